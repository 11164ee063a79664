using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Reflection.Emit;
using System.Text.RegularExpressions;
using VsockNative.Device;
using Xunit;
using VsockNative.Diagnostics;

namespace VsockNative.Tests.Architecture;

/// <summary>
/// The layers of the library (ARCHITECTURE.md, "The second design of the core") and the two rules
/// that keep them: every dependency points down, and <c>unsafe</c> code lives only where guest
/// memory, rings and C are handled. Dependencies are read from the compiled assembly: base types,
/// interfaces, fields, signatures, and every type, method and field the IL of a method body names.
/// Custom attributes are not dependencies: the ABI markers ([CStruct], [CDefine]...) are read by the
/// header generator at compile time and run no code.
/// </summary>
public sealed class LayerTests
{
    /// <summary>Top to bottom. A namespace may use only the namespaces after it.</summary>
    private static readonly string[] Layers =
    {
        "Generated",       // the generator's description of the C ABI (read by the header tool)
        "Interop",         // the C ABI: exports, C structs and callbacks, handed down as managed equivalents
        "Device",          // control plane, queues, the pump
        "Connections",     // the backend: muxer, datagram router, sibling routes
        "Endpoints",       // host streams over fds, the CONNECT line
        "Protocol",        // one connection's state machine and credit
        "EventLoop",       // epoll loop, wake fd, deferred calls, timers, the poll registry
        "Virtqueue",       // split rings, chains
        "Memory",          // guest regions, translation, pinned host buffers
        "Interop.Native",  // libc: epoll, eventfd, sockets (C at the bottom, behind safe signatures)
        "Wire",            // generated accessors, IoVec
        "Diagnostics",     // errno, logging
    };

    private static readonly string[] UnsafeFolders = { "Memory", "Virtqueue", "Interop" };

    private static int LayerOf(Type type)
    {
        var ns = type.Namespace ?? "";
        if (!ns.StartsWith("VsockNative.", StringComparison.Ordinal)) return -1;
        ns = ns["VsockNative.".Length..];
        int best = -1;
        for (int i = 0; i < Layers.Length; i++)
            if ((ns == Layers[i] || ns.StartsWith(Layers[i] + ".", StringComparison.Ordinal)) && (best < 0 || Layers[i].Length > Layers[best].Length))
                best = i;
        return best;
    }

    [Fact]
    public void Every_namespace_of_the_library_is_a_known_layer()
    {
        var unknown = typeof(VsockDevice).Assembly.GetTypes()
            .Where(t => t.Namespace is { } ns && ns.StartsWith("VsockNative", StringComparison.Ordinal) && LayerOf(t) < 0)
            .Select(t => t.FullName).ToList();
        Assert.True(unknown.Count == 0, "types outside every layer: " + string.Join(", ", unknown));
    }

    [Fact]
    public void Every_dependency_points_down()
    {
        var violations = new SortedSet<string>();
        foreach (var type in typeof(VsockDevice).Assembly.GetTypes())
        {
            int from = LayerOf(type);
            if (from < 0) continue;
            foreach (var used in Dependencies(type))
            {
                int to = LayerOf(used);
                if (to >= 0 && to < from)
                    violations.Add($"{Layers[from]} -> {Layers[to]}: {Name(type)} uses {Name(used)}");
            }
        }
        Assert.True(violations.Count == 0, "dependencies that point up:\n" + string.Join("\n", violations));
    }

    /// <summary>The checker itself: it sees dependencies that exist only in method bodies, and in fields.</summary>
    [Fact]
    public void The_dependency_reader_sees_calls_and_fields()
    {
        var uses = Dependencies(typeof(Probe)).ToHashSet();
        Assert.Contains(typeof(VsockNative.Diagnostics.Logger), uses);         // a static property read in a body
        Assert.Contains(typeof(VsockNative.Device.VsockDevice), uses);         // a field's type
        Assert.Contains(typeof(VsockNative.Connections.VsockBackend), uses);   // a type token in a body
    }

    private sealed class Probe
    {
#pragma warning disable CS0649, CS0169
        private VsockDevice? _device;
#pragma warning restore CS0649, CS0169
        public static object Read() => VsockNative.Diagnostics.Logger.None;
        public static Type Make() => typeof(VsockNative.Connections.VsockBackend);
    }

    [Fact]
    public void Unsafe_code_lives_only_in_memory_virtqueue_and_interop()
    {
        var src = Path.Combine(RepoPaths.Root, "src", "VsockNative");
        var offenders = new List<string>();
        foreach (var file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            var rel = Path.GetRelativePath(src, file);
            var top = rel.Split(Path.DirectorySeparatorChar)[0];
            if (top is "obj" or "bin" || UnsafeFolders.Contains(top)) continue;
            var code = Regex.Replace(File.ReadAllText(file), @"//[^\n]*|/\*.*?\*/|""(?:\\.|[^""\\])*""", "", RegexOptions.Singleline);
            if (Regex.IsMatch(code, @"\bunsafe\b")) offenders.Add(rel);
        }
        Assert.True(offenders.Count == 0, "unsafe outside Memory, Virtqueue and Interop: " + string.Join(", ", offenders));
    }

    private static string Name(Type t) => t.FullName?.Replace("VsockNative.", "") ?? t.Name;

    /// <summary>Every library type <paramref name="type"/> uses in code (attributes excluded).</summary>
    private static IEnumerable<Type> Dependencies(Type type)
    {
        var found = new HashSet<Type>();
        void Add(Type? t)
        {
            while (t is not null && (t.IsArray || t.IsPointer || t.IsByRef)) t = t.GetElementType();
            if (t is null || t.IsGenericParameter) return;
            if (t.IsGenericType && !t.IsGenericTypeDefinition)
            {
                foreach (var a in t.GetGenericArguments()) Add(a);
                t = t.GetGenericTypeDefinition();
            }
            found.Add(t);
        }
        Add(type.BaseType);
        foreach (var i in type.GetInterfaces()) Add(i);
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var f in type.GetFields(all)) Add(f.FieldType);
        foreach (var m in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
        {
            if (m is MethodInfo mi) Add(mi.ReturnType);
            foreach (var p in m.GetParameters()) Add(p.ParameterType);
            foreach (var used in BodyReferences(m)) Add(used);
        }
        return found;
    }

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    /// <summary>The declaring types of the methods and fields, and the types, that a body's IL names.</summary>
    private static IEnumerable<Type> BodyReferences(MethodBase method)
    {
        byte[]? il;
        try { il = method.GetMethodBody()?.GetILAsByteArray(); }
        catch (Exception) { yield break; }
        if (il is null) yield break;
        var module = method.Module;
        Type[]? typeArgs = method.DeclaringType is { IsGenericType: true } dt ? dt.GetGenericArguments() : null;
        Type[]? methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
        for (int pc = 0; pc < il.Length;)
        {
            short value = il[pc] == 0xFE ? (short)(0xFE00 | il[pc + 1]) : il[pc];
            pc += il[pc] == 0xFE ? 2 : 1;
            var op = OpCodesByValue[value];
            int size = op.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, pc),
                _ => 4,
            };
            if (op.OperandType is OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineType or OperandType.InlineTok)
            {
                MemberInfo? member = null;
                try { member = module.ResolveMember(BitConverter.ToInt32(il, pc), typeArgs, methodArgs); }
                catch (Exception) { /* a member of another assembly that cannot be resolved here: not ours */ }
                if (member is Type t) yield return t;
                else if (member?.DeclaringType is { } d) yield return d;
                if (member is FieldInfo fi) yield return fi.FieldType;
            }
            pc += size;
        }
    }
}

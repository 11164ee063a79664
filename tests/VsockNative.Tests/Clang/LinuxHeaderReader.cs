using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;

namespace VsockNative.Tests.Clang;

public sealed record LinuxField(string Name, int Offset, int Size);

public sealed record LinuxStruct(string Name, int Size, IReadOnlyList<LinuxField> Fields);

public sealed record LinuxEnumConstant(string Enum, string Name, long Value);

/// <summary>What a Linux uapi header defines, as the compiler sees it: struct layouts (bytes),
/// enum constants, and the values of its object-like VIRTIO_* macros.</summary>
public sealed record LinuxHeader(
    string Path,
    IReadOnlyList<LinuxStruct> Structs,
    IReadOnlyList<LinuxEnumConstant> EnumConstants,
    IReadOnlyDictionary<string, long> Macros);

/// <summary>Reads a Linux uapi header (by default &lt;linux/virtio_vsock.h&gt;) with libclang, keeping
/// only the declarations made in that header itself (not in the headers it includes).</summary>
public static class LinuxHeaderReader
{
    public const string VsockHeader = "linux/virtio_vsock.h";

    /// <summary>The headers included ahead of the macro probe, so macros from virtio_config.h and
    /// virtio_ring.h (the transport feature bits) can be evaluated too.</summary>
    public static readonly IReadOnlyList<string> ProbeIncludes = new[] { VsockHeader, "linux/virtio_config.h", "linux/virtio_ring.h" };

    private const string ProbeFile = "vsn_probe.c";

    public static LinuxHeader Read(string include = VsockHeader)
    {
        string? headerPath = null;
        var structs = new List<LinuxStruct>();
        var constants = new List<LinuxEnumConstant>();
        var macroNames = new List<string>();

        // 1. The declarations: parse a file that includes the header, as user space would.
        using (var tu = ParseChecked($"#include <{include}>\n", LibClang.CXTranslationUnit_DetailedPreprocessingRecord))
        {
            var top = LibClang.Children(tu.Cursor);
            foreach (var c in top)
            {
                if (LibClang.clang_getCursorKind(c) == CXCursorKind.InclusionDirective && LibClang.FileOf(c) == ProbeFile)
                {
                    var file = LibClang.clang_getIncludedFile(c);
                    if (file != IntPtr.Zero) headerPath = LibClang.Take(LibClang.clang_getFileName(file));
                }
            }
            if (headerPath is null) throw new InvalidOperationException($"<{include}> was not found by clang");

            foreach (var c in top)
            {
                if (LibClang.FileOf(c) != headerPath) continue;
                switch (LibClang.clang_getCursorKind(c))
                {
                    case CXCursorKind.StructDecl when LibClang.clang_isCursorDefinition(c) != 0 && LibClang.clang_Cursor_isAnonymous(c) == 0:
                        structs.Add(ReadStruct(c));
                        break;
                    case CXCursorKind.EnumDecl:
                        var enumName = LibClang.Spelling(c);
                        foreach (var k in LibClang.Children(c))
                            if (LibClang.clang_getCursorKind(k) == CXCursorKind.EnumConstantDecl)
                                constants.Add(new LinuxEnumConstant(enumName, LibClang.Spelling(k), LibClang.clang_getEnumConstantDeclValue(k)));
                        break;
                    case CXCursorKind.MacroDefinition when LibClang.clang_Cursor_isMacroFunctionLike(c) == 0:
                        var name = LibClang.Spelling(c);
                        if (name.StartsWith("VIRTIO_", StringComparison.Ordinal)) macroNames.Add(name);
                        break;
                }
            }
        }

        // 2. The macro values, evaluated by the compiler rather than by reading the text.
        var macros = EvaluateMacros(macroNames);
        var missing = macroNames.Where(n => !macros.ContainsKey(n)).ToList();
        if (missing.Count > 0)
            throw new InvalidOperationException($"macros of {headerPath} not defined in the probe: {string.Join(", ", missing)}");

        return new LinuxHeader(headerPath, structs, constants, macros);
    }

    /// <summary>The integer values of the macros in <paramref name="names"/> that are defined after
    /// including <see cref="ProbeIncludes"/>; names not defined there are left out.</summary>
    public static Dictionary<string, long> EvaluateMacros(IEnumerable<string> names)
    {
        var list = names.Distinct(StringComparer.Ordinal).ToList();
        var src = new StringBuilder();
        foreach (var inc in ProbeIncludes) src.Append("#include <").Append(inc).Append(">\n");
        src.Append("enum vsn_probe {\n    vsn_probe_sentinel_ = 0,\n");
        foreach (var n in list)
        {
            if (!IsIdentifier(n)) throw new ArgumentException($"not a C identifier: '{n}'", nameof(names));
            src.Append("#ifdef ").Append(n).Append('\n')
               .Append("    P_").Append(n).Append(" = (").Append(n).Append("),\n")
               .Append("#endif\n");
        }
        src.Append("};\n");

        var values = new Dictionary<string, long>(StringComparer.Ordinal);
        using var tu = ParseChecked(src.ToString(), 0);
        foreach (var c in LibClang.Children(tu.Cursor))
        {
            if (LibClang.clang_getCursorKind(c) != CXCursorKind.EnumDecl || LibClang.Spelling(c) != "vsn_probe") continue;
            foreach (var k in LibClang.Children(c))
            {
                var name = LibClang.Spelling(k);
                if (LibClang.clang_getCursorKind(k) == CXCursorKind.EnumConstantDecl && name.StartsWith("P_", StringComparison.Ordinal))
                    values[name.Substring(2)] = LibClang.clang_getEnumConstantDeclValue(k);
            }
        }
        return values;
    }

    private static LinuxStruct ReadStruct(CXCursor decl)
    {
        var name = LibClang.Spelling(decl);
        var type = LibClang.clang_getCursorType(decl);
        var size = LibClang.clang_Type_getSizeOf(type);
        if (size < 0) throw new InvalidOperationException($"struct {name}: clang_Type_getSizeOf failed ({size})");

        var fields = new List<LinuxField>();
        foreach (var f in LibClang.Children(decl))
        {
            if (LibClang.clang_getCursorKind(f) != CXCursorKind.FieldDecl) continue;
            var fieldName = LibClang.Spelling(f);
            if (LibClang.clang_Cursor_isBitField(f) != 0)
                throw new NotSupportedException($"struct {name}: bit-field '{fieldName}' has no byte layout");
            var bits = LibClang.OffsetOfBits(type, fieldName);
            var fieldSize = LibClang.clang_Type_getSizeOf(LibClang.clang_getCursorType(f));
            if (bits < 0 || bits % 8 != 0 || fieldSize < 0)
                throw new InvalidOperationException($"struct {name}.{fieldName}: offset {bits} bits, size {fieldSize}");
            fields.Add(new LinuxField(fieldName, (int)(bits / 8), (int)fieldSize));
        }
        return new LinuxStruct(name, (int)size, fields);
    }

    /// <summary>Parses <paramref name="source"/> and throws with clang's messages if it has errors.
    /// libclang normally finds its builtin headers (stddef.h, ...) by itself; if parsing fails, it is
    /// retried with -I to the resource include folder of libclang-common-14-dev.</summary>
    private static ClangTranslationUnit ParseChecked(string source, uint options)
    {
        var args = new List<string> { "-x", "c", "-std=gnu11" };
        var tu = ClangTranslationUnit.Parse(ProbeFile, source, args, options);
        var errors = tu.Diagnostics(CXDiagnosticSeverity.Error);
        if (errors.Count > 0 && ClangResourceInclude() is { } builtins)
        {
            tu.Dispose();
            args.Add("-I" + builtins);
            tu = ClangTranslationUnit.Parse(ProbeFile, source, args, options);
            errors = tu.Diagnostics(CXDiagnosticSeverity.Error);
        }
        if (errors.Count == 0) return tu;
        tu.Dispose();
        throw new InvalidOperationException($"clang ({string.Join(" ", args)}) reported errors:\n" + string.Join("\n", errors) + "\n--- source ---\n" + source);
    }

    /// <summary>/usr/lib/llvm-14/lib/clang/VERSION/include (the newest VERSION that has stddef.h), or null.</summary>
    private static string? ClangResourceInclude()
    {
        const string root = "/usr/lib/llvm-14/lib/clang";
        if (!Directory.Exists(root)) return null;
        return Directory.GetDirectories(root)
            .Select(d => System.IO.Path.Combine(d, "include"))
            .Where(d => File.Exists(System.IO.Path.Combine(d, "stddef.h")))
            .OrderByDescending(d => Version.TryParse(new DirectoryInfo(d).Parent!.Name, out var v) ? v : new Version(0, 0))
            .FirstOrDefault();
    }

    private static bool IsIdentifier(string s) =>
        s.Length > 0 && (char.IsAsciiLetter(s[0]) || s[0] == '_') && s.All(ch => char.IsAsciiLetterOrDigit(ch) || ch == '_');
}

using System;
using System.Collections.Generic;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace VsockNative.Tests.Clang;

// A minimal binding to the libclang C API (clang-c/Index.h, LLVM 14), only what the Linux header
// cross-check needs. All structs are blittable and match the C layout on 64-bit Linux.

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXString
{
    public void* data;
    public uint private_flags;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXCursor
{
    public int kind;
    public int xdata;
    public void* data0, data1, data2;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXType
{
    public int kind;
    public void* data0, data1;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXSourceLocation
{
    public void* ptr_data0, ptr_data1;
    public uint int_data;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CXUnsavedFile
{
    public sbyte* Filename;
    public sbyte* Contents;
    public nuint Length;
}

/// <summary>The CXCursorKind values used here.</summary>
internal static class CXCursorKind
{
    public const int StructDecl = 2;
    public const int EnumDecl = 5;
    public const int FieldDecl = 6;
    public const int EnumConstantDecl = 7;
    public const int TranslationUnit = 350;
    public const int MacroDefinition = 501;
    public const int InclusionDirective = 503;
}

internal enum CXChildVisitResult { Break = 0, Continue = 1, Recurse = 2 }

internal enum CXDiagnosticSeverity { Ignored = 0, Note = 1, Warning = 2, Error = 3, Fatal = 4 }

internal static unsafe class LibClang
{
    private const string Lib = "libclang-14.so.1";
    private static readonly string[] Fallbacks = { Lib, "libclang.so.1", "libclang.so" };

    public const uint CXTranslationUnit_DetailedPreprocessingRecord = 1;

    static LibClang()
    {
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(LibClang).Assembly, Resolve);
        }
        catch (InvalidOperationException)
        {
            // Another resolver is already set for this assembly; the default probing still finds Lib.
        }
    }

    /// <summary>Runs the static constructor (which installs the resolver) before the first P/Invoke.</summary>
    public static void EnsureInitialized() => RuntimeHelpers.RunClassConstructor(typeof(LibClang).TypeHandle);

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name != Lib) return IntPtr.Zero;
        foreach (var candidate in Fallbacks)
            if (NativeLibrary.TryLoad(candidate, assembly, path, out var handle)) return handle;
        return IntPtr.Zero;
    }

    [DllImport(Lib)] public static extern IntPtr clang_createIndex(int excludeDeclarationsFromPCH, int displayDiagnostics);
    [DllImport(Lib)] public static extern void clang_disposeIndex(IntPtr index);

    [DllImport(Lib)]
    public static extern IntPtr clang_parseTranslationUnit(IntPtr index, sbyte* source_filename, sbyte** command_line_args, int num_command_line_args,
        CXUnsavedFile* unsaved_files, uint num_unsaved_files, uint options);

    [DllImport(Lib)] public static extern void clang_disposeTranslationUnit(IntPtr tu);

    [DllImport(Lib)] public static extern uint clang_getNumDiagnostics(IntPtr tu);
    [DllImport(Lib)] public static extern IntPtr clang_getDiagnostic(IntPtr tu, uint index);
    [DllImport(Lib)] public static extern CXDiagnosticSeverity clang_getDiagnosticSeverity(IntPtr diagnostic);
    [DllImport(Lib)] public static extern uint clang_defaultDiagnosticDisplayOptions();
    [DllImport(Lib)] public static extern CXString clang_formatDiagnostic(IntPtr diagnostic, uint options);
    [DllImport(Lib)] public static extern void clang_disposeDiagnostic(IntPtr diagnostic);

    [DllImport(Lib)] public static extern CXCursor clang_getTranslationUnitCursor(IntPtr tu);
    [DllImport(Lib)] public static extern uint clang_visitChildren(CXCursor parent, delegate* unmanaged<CXCursor, CXCursor, nint, int> visitor, nint client_data);
    [DllImport(Lib)] public static extern int clang_getCursorKind(CXCursor cursor);
    [DllImport(Lib)] public static extern CXString clang_getCursorSpelling(CXCursor cursor);
    [DllImport(Lib)] public static extern uint clang_isCursorDefinition(CXCursor cursor);
    [DllImport(Lib)] public static extern uint clang_Cursor_isAnonymous(CXCursor cursor);
    [DllImport(Lib)] public static extern uint clang_Cursor_isBitField(CXCursor cursor);
    [DllImport(Lib)] public static extern uint clang_Cursor_isMacroFunctionLike(CXCursor cursor);
    [DllImport(Lib)] public static extern IntPtr clang_getIncludedFile(CXCursor cursor);

    [DllImport(Lib)] public static extern CXType clang_getCursorType(CXCursor cursor);
    [DllImport(Lib)] public static extern long clang_Type_getSizeOf(CXType type);
    [DllImport(Lib)] public static extern long clang_Type_getOffsetOf(CXType type, sbyte* fieldName);
    [DllImport(Lib)] public static extern long clang_getEnumConstantDeclValue(CXCursor cursor);

    [DllImport(Lib)] public static extern CXSourceLocation clang_getCursorLocation(CXCursor cursor);
    [DllImport(Lib)] public static extern void clang_getFileLocation(CXSourceLocation location, IntPtr* file, uint* line, uint* column, uint* offset);
    [DllImport(Lib)] public static extern CXString clang_getFileName(IntPtr file);

    [DllImport(Lib)] public static extern sbyte* clang_getCString(CXString str);
    [DllImport(Lib)] public static extern void clang_disposeString(CXString str);

    // ---- managed helpers -------------------------------------------------------------------

    /// <summary>Copies a CXString into a managed string and disposes it.</summary>
    public static string Take(CXString s)
    {
        try
        {
            var p = clang_getCString(s);
            return p == null ? "" : Marshal.PtrToStringUTF8((IntPtr)p) ?? "";
        }
        finally
        {
            clang_disposeString(s);
        }
    }

    public static string Spelling(CXCursor c) => Take(clang_getCursorSpelling(c));

    /// <summary>The file a cursor is in (its expansion location), or null for built-in entities.</summary>
    public static string? FileOf(CXCursor c)
    {
        IntPtr file;
        uint line, column, offset;
        clang_getFileLocation(clang_getCursorLocation(c), &file, &line, &column, &offset);
        return file == IntPtr.Zero ? null : Take(clang_getFileName(file));
    }

    public static long OffsetOfBits(CXType type, string fieldName)
    {
        var name = Marshal.StringToCoTaskMemUTF8(fieldName);
        try { return clang_Type_getOffsetOf(type, (sbyte*)name); }
        finally { Marshal.FreeCoTaskMem(name); }
    }

    /// <summary>Visits the children of <paramref name="parent"/>; the visitor may throw, the exception
    /// is carried across the native frames and rethrown here.</summary>
    public static void VisitChildren(CXCursor parent, Func<CXCursor, CXCursor, CXChildVisitResult> visitor)
    {
        var state = new VisitState(visitor);
        var handle = GCHandle.Alloc(state);
        try
        {
            clang_visitChildren(parent, &Visit, GCHandle.ToIntPtr(handle));
        }
        finally
        {
            handle.Free();
        }
        state.Error?.Throw();
    }

    /// <summary>The direct children of <paramref name="parent"/>.</summary>
    public static List<CXCursor> Children(CXCursor parent)
    {
        var list = new List<CXCursor>();
        VisitChildren(parent, (c, _) => { list.Add(c); return CXChildVisitResult.Continue; });
        return list;
    }

    private sealed class VisitState(Func<CXCursor, CXCursor, CXChildVisitResult> visitor)
    {
        public readonly Func<CXCursor, CXCursor, CXChildVisitResult> Visitor = visitor;
        public ExceptionDispatchInfo? Error;
    }

    [UnmanagedCallersOnly]
    private static int Visit(CXCursor cursor, CXCursor parent, nint data)
    {
        var state = (VisitState)GCHandle.FromIntPtr(data).Target!;
        try
        {
            return (int)state.Visitor(cursor, parent);
        }
        catch (Exception e)
        {
            state.Error = ExceptionDispatchInfo.Capture(e);
            return (int)CXChildVisitResult.Break;
        }
    }
}

/// <summary>A parsed translation unit and its index; owns the native argument and unsaved-file
/// buffers until it is disposed.</summary>
internal sealed unsafe class ClangTranslationUnit : IDisposable
{
    private IntPtr _index;
    private IntPtr _tu;
    private readonly List<IntPtr> _buffers = new();

    private ClangTranslationUnit() { }

    public IntPtr Handle => _tu != IntPtr.Zero ? _tu : throw new ObjectDisposedException(nameof(ClangTranslationUnit));

    public CXCursor Cursor => LibClang.clang_getTranslationUnitCursor(Handle);

    /// <summary>Parses <paramref name="contents"/> as the in-memory main file <paramref name="fileName"/>.</summary>
    public static ClangTranslationUnit Parse(string fileName, string contents, IReadOnlyList<string> args, uint options)
    {
        LibClang.EnsureInitialized();
        var unit = new ClangTranslationUnit();
        try
        {
            unit._index = LibClang.clang_createIndex(0, 0);
            if (unit._index == IntPtr.Zero) throw new InvalidOperationException("clang_createIndex failed");

            var argv = (sbyte**)unit.Alloc(IntPtr.Size * Math.Max(1, args.Count));
            for (int i = 0; i < args.Count; i++) argv[i] = unit.Utf8(args[i]);

            var name = unit.Utf8(fileName);
            var text = unit.Utf8(contents);
            var unsaved = new CXUnsavedFile { Filename = name, Contents = text, Length = (nuint)System.Text.Encoding.UTF8.GetByteCount(contents) };
            unit._tu = LibClang.clang_parseTranslationUnit(unit._index, name, argv, args.Count, &unsaved, 1, options);
            if (unit._tu == IntPtr.Zero)
                throw new InvalidOperationException($"clang_parseTranslationUnit failed for {fileName} (args: {string.Join(" ", args)})");
            return unit;
        }
        catch
        {
            unit.Dispose();
            throw;
        }
    }

    /// <summary>clang's formatted diagnostics of at least <paramref name="minimum"/> severity.</summary>
    public List<string> Diagnostics(CXDiagnosticSeverity minimum = CXDiagnosticSeverity.Error)
    {
        var list = new List<string>();
        uint n = LibClang.clang_getNumDiagnostics(Handle);
        for (uint i = 0; i < n; i++)
        {
            var d = LibClang.clang_getDiagnostic(Handle, i);
            try
            {
                if (LibClang.clang_getDiagnosticSeverity(d) >= minimum)
                    list.Add(LibClang.Take(LibClang.clang_formatDiagnostic(d, LibClang.clang_defaultDiagnosticDisplayOptions())));
            }
            finally
            {
                LibClang.clang_disposeDiagnostic(d);
            }
        }
        return list;
    }

    private IntPtr Alloc(int size)
    {
        var p = Marshal.AllocHGlobal(size);
        _buffers.Add(p);
        return p;
    }

    /// <summary>A NUL-terminated UTF-8 copy of <paramref name="s"/>, freed on Dispose.</summary>
    private sbyte* Utf8(string s)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(s);
        var p = (byte*)Alloc(bytes.Length + 1);
        bytes.AsSpan().CopyTo(new Span<byte>(p, bytes.Length));
        p[bytes.Length] = 0;
        return (sbyte*)p;
    }

    public void Dispose()
    {
        if (_tu != IntPtr.Zero) { LibClang.clang_disposeTranslationUnit(_tu); _tu = IntPtr.Zero; }
        if (_index != IntPtr.Zero) { LibClang.clang_disposeIndex(_index); _index = IntPtr.Zero; }
        foreach (var p in _buffers) Marshal.FreeHGlobal(p);
        _buffers.Clear();
    }
}

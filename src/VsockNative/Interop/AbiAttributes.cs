using System;

namespace VsockNative.Interop;

// Markers read by VsockNative.Generators to describe the C ABI in include/vsock_native.h.
// They change nothing at run time.

/// <summary>A struct the C side fills or reads; emitted as a C struct with asserted offsets.</summary>
[AttributeUsage(AttributeTargets.Struct)]
internal sealed class CStructAttribute : Attribute
{
    public CStructAttribute(string cName) => CName = cName;
    public string CName { get; }
    /// <summary>A former C name, kept as <c>typedef cName alias;</c> (marked deprecated) for one ABI minor.</summary>
    public string? DeprecatedAlias { get; set; }
    /// <summary>The ABI version that deprecated <see cref="DeprecatedAlias"/> ("0.5").</summary>
    public string? DeprecatedSince { get; set; }
}

/// <summary>A handle: C sees only <c>typedef struct name name;</c> and passes <c>name *</c>.</summary>
[AttributeUsage(AttributeTargets.Struct)]
internal sealed class COpaqueAttribute : Attribute
{
    public COpaqueAttribute(string cName) => CName = cName;
    public string CName { get; }
}

/// <summary>A struct wrapping one unmanaged function pointer; emitted as a C function-pointer typedef
/// whose parameters get the given names.</summary>
[AttributeUsage(AttributeTargets.Struct)]
internal sealed class CCallbackAttribute : Attribute
{
    public CCallbackAttribute(string cName, params string[] parameterNames) { CName = cName; ParameterNames = parameterNames; }
    public string CName { get; }
    public string[] ParameterNames { get; }
}

/// <summary>The pointer parameter or field points at data the callee does not modify (C <c>const</c>).</summary>
[AttributeUsage(AttributeTargets.Parameter | AttributeTargets.Field)]
internal sealed class CConstAttribute : Attribute { }

/// <summary>A constant emitted as <c>#define name value</c>.</summary>
[AttributeUsage(AttributeTargets.Field)]
internal sealed class CDefineAttribute : Attribute
{
    public CDefineAttribute(string name) => Name = name;
    public string Name { get; }
}

/// <summary>Where a declaration goes in the header: its section (the sections are in lifecycle order)
/// and its place within the section (lower first). On a class, it places the class's [CDefine]
/// constants, in member order.</summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Struct | AttributeTargets.Class | AttributeTargets.Field)]
internal sealed class CSectionAttribute : Attribute
{
    public CSectionAttribute(AbiSection section, int order = 0) { Section = section; Order = order; }
    public AbiSection Section { get; }
    public int Order { get; }
}

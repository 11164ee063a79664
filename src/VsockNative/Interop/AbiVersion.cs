namespace VsockNative.Interop;

/// <summary>The ABI version: (major &lt;&lt; 16) | minor. A new minor only adds; a new major breaks.</summary>
[CSection(AbiSection.Library, 1)]
internal static class AbiVersion
{
    /// <summary>Major ABI version: a caller must refuse a library whose major differs.</summary>
    [CDefine("VSN_ABI_VERSION_MAJOR")] public const uint Major = 0;
    /// <summary>Minor ABI version: grows when functions or struct fields are added.</summary>
    [CDefine("VSN_ABI_VERSION_MINOR")] public const uint Minor = 6;
    /// <summary>The version this header describes, (major &lt;&lt; 16) | minor.</summary>
    [CDefine("VSN_ABI_VERSION")] public const uint Value = (Major << 16) | Minor;
}

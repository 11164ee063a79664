namespace System.Runtime.CompilerServices;

/// <summary>Lets records compile on netstandard2.0.</summary>
internal static class IsExternalInit { }

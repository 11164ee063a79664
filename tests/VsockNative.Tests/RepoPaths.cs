using System;
using System.IO;

namespace VsockNative.Tests;

/// <summary>Paths inside the repository, found from the test assembly's folder.</summary>
internal static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Spec => Path.Combine(Root, "src", "VsockNative", "Wire", "virtio_vsock.vsockspec");

    public static string Header => Path.Combine(Root, "include", "vsock_native.h");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "VsockNative.sln"))) return dir.FullName;
        throw new InvalidOperationException("VsockNative.sln not found above " + AppContext.BaseDirectory);
    }
}

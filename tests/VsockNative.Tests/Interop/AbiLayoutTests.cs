using System;
using System.Runtime.InteropServices;
using VsockNative.Generated;
using Xunit;
using VsockNative.Diagnostics;

namespace VsockNative.Tests.Interop;

/// <summary>The offsets the header asserts for C are the offsets the runtime uses for the C# structs.</summary>
public class AbiLayoutTests
{
    [Fact]
    public void Every_CStruct_field_has_the_C_offset_and_size_at_run_time()
    {
        Assert.NotEmpty(AbiLayout.Entries);
        var asm = typeof(VsockNative.Diagnostics.Errno).Assembly;
        foreach (var (cStruct, csType, field, offset, size) in AbiLayout.Entries)
        {
            var type = asm.GetType(csType) ?? throw new InvalidOperationException($"{csType} not found");
            if (field.Length == 0)
                Assert.True(Marshal.SizeOf(type) == size, $"{cStruct}: C size {size}, C# {Marshal.SizeOf(type)}");
            else
                Assert.True((int)Marshal.OffsetOf(type, field) == offset, $"{cStruct}.{field}: C offset {offset}, C# {Marshal.OffsetOf(type, field)}");
        }
    }

    [Fact]
    public void The_exports_list_names_the_functions_of_issue_two()
    {
        Assert.Subset(new System.Collections.Generic.HashSet<string>(AbiLayout.Exports),
            new System.Collections.Generic.HashSet<string> { "vsn_abi_version", "vsn_device_create", "vsn_device_destroy", "vsn_device_get_features", "vsn_device_read_config", "vsn_set_log_callback" });
    }
}

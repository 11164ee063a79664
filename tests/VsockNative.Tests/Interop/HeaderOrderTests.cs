using System.IO;
using Xunit;

namespace VsockNative.Tests.Interop;

/// <summary>The committed header reads in the life of a device, as libvhost-user.h does: library,
/// lifecycle, memory and features, queues, running, the fd API, routing, diagnostics, deprecated
/// names; each section's types before its functions.</summary>
public class HeaderOrderTests
{
    [Fact]
    public void Sections_and_functions_follow_the_life_of_a_device()
    {
        var text = File.ReadAllText(RepoPaths.Header);
        var order = new[]
        {
            "===== Library", "uint32_t vsn_abi_version(", "int32_t vsn_set_log_callback(",
            "===== Device lifecycle", "} vsn_device_config;", "int32_t vsn_device_create(", "int32_t vsn_device_destroy(",
            "int32_t vsn_device_reset(", "int32_t vsn_device_get_status(",
            "===== Memory and features", "int32_t vsn_device_set_mem_table(", "int32_t vsn_device_set_features(",
            "===== Queues", "} vsn_queue_config;", "int32_t vsn_queue_setup(", "int32_t vsn_queue_notify(",
            "===== Running", "int32_t vsn_device_start(", "int32_t vsn_device_stop(", "int32_t vsn_device_poll(",
            "int32_t vsn_device_save_state(", "int32_t vsn_device_restore_state(",
            "===== The fd API", "(*vsn_accept_fn)", "int32_t vsn_device_listen(", "int32_t vsn_device_unlisten(", "int32_t vsn_device_connect(",
            "===== Routing", "(*vsn_router_fn)", "int32_t vsn_device_set_router(", "int32_t vsn_device_connect_from(",
            "===== Diagnostics", "} vsn_device_counters;", "int32_t vsn_queue_get_counters(", "int32_t vsn_device_get_counters(",
            "int32_t vsn_device_get_connections(",
            "===== Deprecated names", "int32_t vsn_listen(", "int32_t vsn_connect_from(",
        };
        int last = -1;
        foreach (var s in order)
        {
            int at = text.IndexOf(s, System.StringComparison.Ordinal);
            Assert.True(at > last, $"'{s}' is missing or out of order");
            last = at;
        }
        Assert.Contains("typedef vsn_connection_layer_counter_values vsn_conn_counter_values;", text);
    }
}

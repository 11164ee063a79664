using System;
using Xunit;

namespace VsockNative.Tests.Device;

// The link's data path (tx pop, copy into the link, signal, the peer's copy into its rx buffers,
// credit updates) allocates nothing once warm. Only the devices' own calls are measured.
public sealed partial class DeviceSiblingLinkTests
{
    [Fact]
    public void Steady_state_traffic_both_ways_between_two_devices_allocates_nothing()
    {
        var (a, b) = Open(_a, _b, 5000);
        long allocated = 0;
        void Rounds(int n)
        {
            for (int i = 0; i < n; i++)
            {
                _a.SendStream(a, long.MaxValue, packets: 4);
                _b.SendStream(b, long.MaxValue, packets: 4);
                long before = GC.GetAllocatedBytesForCurrentThread();
                _a.PollDevice();
                _b.PollDevice();
                allocated += GC.GetAllocatedBytesForCurrentThread() - before;
                _a.Collect();
                _b.Collect();
            }
        }
        Rounds(500);  // warm-up: JIT, tiering, pools, queues growing to their size
        allocated = 0;
        long sentBefore = a.Sent + b.Sent;
        Rounds(500);
        Assert.True(a.Sent + b.Sent - sentBefore > 16 << 20, $"too little traffic: {a.Sent + b.Sent - sentBefore}");
        Assert.Equal(0, allocated);
        AssertClean(a);
        AssertClean(b);
    }
}

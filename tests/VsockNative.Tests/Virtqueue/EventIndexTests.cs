using VsockNative.Virtqueue;
using Xunit;

namespace VsockNative.Tests.Virtqueue;

public class EventIndexTests
{
    [Theory]
    [InlineData(5, 6, 5, true)]          // moved from 5 to 6: entry 5 used, event 5 reached
    [InlineData(5, 5, 4, false)]         // moved to 5: event 5 not yet passed
    [InlineData(5, 8, 2, true)]          // batch 2..8 crosses 5
    [InlineData(9, 8, 2, false)]         // batch 2..8 stops before 9
    [InlineData(1, 8, 2, false)]         // event behind old: already signalled
    [InlineData(65535, 0, 65535, true)]  // wrap: 65535 -> 0 crosses 65535
    [InlineData(65535, 65535, 65534, false)]
    [InlineData(2, 3, 65530, true)]      // wrapping batch 65530..3 crosses 2
    [InlineData(4, 3, 65530, false)]     // wrapping batch 65530..3 stops before 4
    [InlineData(7, 7, 7, false)]         // nothing moved
    public void Need_event_follows_vring_need_event(int eventIdx, int newIdx, int oldIdx, bool expected) =>
        Assert.Equal(expected, EventIndex.NeedEvent((ushort)eventIdx, (ushort)newIdx, (ushort)oldIdx));
}

namespace VsockNative.Protocol;

/// <summary>
/// The credit formula of virtio 1.3 §5.10.6.3 in u32 wrap-around arithmetic: a sender may have
/// <c>buf_alloc - (tx_cnt - fwd_cnt)</c> bytes in flight. The counters are free-running and wrap at
/// 2^32; only their differences mean anything.
/// </summary>
public static class CreditMath
{
    /// <summary>Bytes the sender may still send: <c>buf_alloc - (tx_cnt - fwd_cnt)</c>. When the
    /// receiver's numbers make the bytes in flight exceed its buf_alloc (it shrank buf_alloc, or
    /// reported a fwd_cnt ahead of what was sent), the result is 0 instead of wrapping to a huge
    /// value, as Linux does.</summary>
    /// <param name="bufAlloc">The receiver's buf_alloc.</param>
    /// <param name="txCnt">The sender's free-running count of bytes sent.</param>
    /// <param name="fwdCnt">The receiver's free-running count of bytes consumed, as last reported.</param>
    public static uint Free(uint bufAlloc, uint txCnt, uint fwdCnt)
    {
        uint inFlight = unchecked(txCnt - fwdCnt);
        return inFlight >= bufAlloc ? 0 : bufAlloc - inFlight;
    }
}

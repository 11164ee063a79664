namespace VsockNative.Protocol;

/// <summary>
/// A host stream whose reader drains what it accepted later, inside this process: a direct link to
/// a sibling device (Connections/SiblingLink.cs), where a write only copies into a bounded buffer the
/// other device empties into its guest's rx buffers. For such a stream the connection's fwd_cnt (what
/// the guest is told) counts only bytes the reader took, so the sending guest's credit is end to end:
/// a guest that stops reading stalls its peer on credit, and the buffer never holds more than
/// buf_alloc (every byte in it is within the credit the sender was given). Read from the connection's
/// thread while the reader works on another: the value may only fall between two reads (bytes taken),
/// except when a write adds bytes, which the connection itself made.
/// </summary>
public interface IHostStreamBacklog
{
    /// <summary>Bytes accepted by Write / SendMessage that the reader has not taken yet; 0 once the
    /// reader is gone (they will never be taken, so they no longer hold credit back).</summary>
    uint Backlog { get; }
}

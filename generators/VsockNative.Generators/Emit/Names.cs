using System;
using System.Linq;
using System.Text;

namespace VsockNative.Generators.Emit;

/// <summary>Spec names (C, snake/upper case) to C# names, and C names with the project prefix.</summary>
public static class Names
{
    /// <summary>virtio_vsock_hdr -> VirtioVsockHdr; TRANSPORT_RESET -> TransportReset.</summary>
    public static string Pascal(string snake)
    {
        var sb = new StringBuilder();
        foreach (var part in snake.Split(new[] { '_' }, StringSplitOptions.RemoveEmptyEntries))
            sb.Append(char.ToUpperInvariant(part[0])).Append(part.Substring(1).ToLowerInvariant());
        var s = sb.ToString();
        return s.Length > 0 && char.IsDigit(s[0]) ? "_" + s : s;
    }

    /// <summary>C# member names for enum members: the members' common '_'-ended prefix is dropped
    /// (VIRTIO_VSOCK_OP_RW -> Rw); a lone member drops what it shares with the enum's name.</summary>
    public static string[] EnumMembers(string enumName, string[] members)
    {
        string prefix;
        if (members.Length > 1)
        {
            prefix = members.Aggregate(CommonPrefix);
        }
        else
        {
            prefix = CommonPrefix(enumName.ToUpperInvariant() + "_", members[0]);
        }
        int cut = prefix.LastIndexOf('_') + 1;
        return members.Select(m => Pascal(m.Substring(Math.Min(cut, m.Length - 1)))).ToArray();
    }

    /// <summary>Feature names drop everything up to the last "_F_": VIRTIO_VSOCK_F_SEQPACKET -> Seqpacket.</summary>
    public static string Feature(string name)
    {
        int i = name.LastIndexOf("_F_", StringComparison.Ordinal);
        return Pascal(i >= 0 ? name.Substring(i + 3) : name);
    }

    public static string CStruct(string specName) => "vsn_" + specName;

    public static string CMacro(string specName) => "VSN_" + specName;

    private static string CommonPrefix(string a, string b)
    {
        int n = 0;
        while (n < a.Length && n < b.Length && a[n] == b[n]) n++;
        return a.Substring(0, n);
    }
}

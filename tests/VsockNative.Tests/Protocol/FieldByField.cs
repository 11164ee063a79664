using System;
using System.Collections.Generic;
using System.Reflection;
using VsockNative.Protocol;
using Xunit;

namespace VsockNative.Tests.Protocol;

/// <summary>Compares two objects field by field, private fields included: what a recycled object must
/// be to be a new one. Objects it owns (listed in <see cref="Owned"/>) are compared the same way, value
/// fields by value, other references by identity; an array one side keeps and the other has not made
/// yet must hold nothing (all zero). A new owned helper type the list does not name makes the check
/// fail (two different objects), so the list cannot silently fall behind.</summary>
internal static class FieldByField
{
    private static readonly HashSet<string> Owned = new()
    {
        "VsockNative.Protocol.TxBuffer", "VsockNative.Protocol.MessageQueue",
        "VsockNative.Protocol.HostMessageBuffer", "VsockNative.Protocol.PinnedRental",
    };

    public static void AssertSame(object expected, object actual, string path = "")
    {
        Assert.Equal(expected.GetType(), actual.GetType());
        if (path.Length == 0) path = expected.GetType().Name;
        for (Type? t = expected.GetType(); t is not null && t != typeof(object); t = t.BaseType)
        {
            foreach (var f in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                object? e = f.GetValue(expected), a = f.GetValue(actual);
                string at = path + "." + f.Name;
                if (e is null && a is null) continue;
                if (f.FieldType.IsArray) AssertArraysSame((Array?)e, (Array?)a, at);
                else if (Owned.Contains(f.FieldType.FullName!))
                {
                    Assert.True(e is not null && a is not null, $"{at}: null on one side only");
                    AssertSame(e!, a!, at);
                }
                else if (f.FieldType.IsValueType) Assert.True(Equals(e, a), $"{at}: {e} (new) != {a} (recycled)");
                else Assert.True(ReferenceEquals(e, a), $"{at}: a different object than a new one has");
            }
        }
    }

    private static void AssertArraysSame(Array? e, Array? a, string at)
    {
        if (e is null || a is null)
        {
            var kept = (e ?? a)!;
            foreach (object? item in kept)
                Assert.True(item is null || item.Equals(Activator.CreateInstance(item.GetType())), $"{at}: a kept array still holds {item}");
            return;
        }
        Assert.Equal(e.Length, a.Length);
        for (int i = 0; i < e.Length; i++) Assert.True(Equals(e.GetValue(i), a.GetValue(i)), $"{at}[{i}]");
    }
}

using System;
using System.IO;
using VsockNative.Generated;

// Writes or checks include/vsock_native.h from the text the generator embedded in the library:
//   VsockNative.HeaderTool --write <path>   write the header (creating folders)
//   VsockNative.HeaderTool --check <path>   exit 1, naming the first differing line, if <path> is stale
if (args.Length != 2 || (args[0] != "--write" && args[0] != "--check"))
{
    Console.Error.WriteLine("usage: VsockNative.HeaderTool --write|--check <path to vsock_native.h>");
    return 2;
}
var path = args[1];
var text = GeneratedCHeader.Text;
if (args[0] == "--write")
{
    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    if (!File.Exists(path) || File.ReadAllText(path) != text) File.WriteAllText(path, text);
    Console.WriteLine($"wrote {path}");
    return 0;
}
if (!File.Exists(path))
{
    Console.Error.WriteLine($"{path}: missing; regenerate it with: cmake --build <build> --target update-header");
    return 1;
}
var current = File.ReadAllText(path);
if (current == text)
{
    Console.WriteLine($"{path}: fresh");
    return 0;
}
var a = current.Split('\n');
var b = text.Split('\n');
int line = 0;
while (line < a.Length && line < b.Length && a[line] == b[line]) line++;
Console.Error.WriteLine($"{path}:{line + 1}: stale header; committed: \"{(line < a.Length ? a[line] : "<end>")}\", generated: \"{(line < b.Length ? b[line] : "<end>")}\"");
Console.Error.WriteLine("regenerate it with: cmake --build <build> --target update-header, and commit include/");
return 1;

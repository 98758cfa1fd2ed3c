using System.CommandLine;
using SelfSpec.Cli;

// Exit codes (architecture.md 7): 0 ok, 2 bad usage or bad input (message on stderr), 1 internal error.
var root = new RootCommand("SelfSpec: exact self-speculative decoding of GGUF models in pure C#")
{
    GenerateCommand.Create(),
    InspectCommand.Create(),
    ChatCommand.Create(),
    CalibrateCommand.Create(),
    ServeCommand.Create(),
};
var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    foreach (var error in parse.Errors) Console.Error.WriteLine($"selfspec: {error.Message}");
    return ExitCodes.BadInput;
}
return parse.Invoke();

using Parley.Server;

// Before anything rents from the shared array pool, whose size is read once from the environment.
Parley.Server.Infrastructure.RuntimeTuning.Apply();

// `Parley.Server migrate` brings the database schema up to date and exits (for clusters that turn off
// migrations at start); anything else runs the server.
if (args is ["migrate", .. var rest])
{
    await ParleyApp.MigrateAsync(rest);
    return 0;
}

// `Parley.Server healthcheck` probes the local server's readiness (container health checks without curl).
if (args is ["healthcheck", .. var probeArgs])
{
    return await Parley.Server.ScaleOut.HealthProbe.RunAsync(probeArgs);
}

// `Parley.Server ai eval --faq FILE [--intents FILE] [--takeover FILE]` runs the offline AI engines on labelled
// files and prints one JSON object (docs/ai.md); no server, no network.
if (args is ["ai", "eval", .. var evalArgs])
{
    return Parley.Server.Features.Ai.AiEval.Run(evalArgs, Console.Out, Console.Error);
}

var app = ParleyApp.Create(args);
await app.RunAsync();
return 0;

/// <summary>Entry point; everything is wired in <see cref="ParleyApp"/>.</summary>
public partial class Program;

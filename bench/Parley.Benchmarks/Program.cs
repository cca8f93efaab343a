using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

if (args.Length > 0 && args[0] == "report-scale")
{
    await Parley.Benchmarks.ReportScaleBench.RunAsync(args[1..]);
    return;
}

// In-process short runs: quick enough for bench/run.sh, and no generated project to restore against the mirror.
var config = DefaultConfig.Instance
    .AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance))
    .AddDiagnoser(MemoryDiagnoser.Default)
    .WithOptions(ConfigOptions.DisableOptimizationsValidator);
BenchmarkSwitcher.FromAssembly(typeof(Parley.Benchmarks.ProtocolBenchmarks).Assembly).Run(args, config);

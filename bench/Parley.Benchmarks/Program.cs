using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

// A plain measurement, not a BenchmarkDotNet run: Chinese segmenters compared (docs/ai.md "Why character bigrams").
if (args is ["analyzers", .. var faqFiles])
{
    return Parley.Benchmarks.AnalyzerComparison.Run(faqFiles);
}

// Seeds a large store and times reports and history search (docs/benchmarks.md, "report-scale").
if (args.Length > 0 && args[0] == "report-scale")
{
    await Parley.Benchmarks.ReportScaleBench.RunAsync(args[1..]);
    return 0;
}

// In-process short runs: quick enough for bench/run.sh, and no generated project to restore against the mirror.
var config = DefaultConfig.Instance
    .AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance))
    .AddDiagnoser(MemoryDiagnoser.Default)
    .WithOptions(ConfigOptions.DisableOptimizationsValidator);
BenchmarkSwitcher.FromAssembly(typeof(Parley.Benchmarks.ProtocolBenchmarks).Assembly).Run(args, config);
return 0;

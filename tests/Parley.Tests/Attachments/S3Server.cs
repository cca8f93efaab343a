using System.Diagnostics;
using System.Text.RegularExpressions;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Attachments;

/// <summary>
/// A real S3-compatible server for the S3 attachment store: s3rver (npm, pinned in tests/tools/s3rver, installed by
/// test.sh and .ci/run; installed here with npm ci when missing) on a free loopback port with a temporary folder,
/// started once per test class and killed at the end. Each test takes its own bucket.
/// </summary>
public sealed partial class S3Server : IAsyncLifetime
{
    /// <summary>s3rver's fixed credentials.</summary>
    public const string AccessKey = "S3RVER";

    public const string SecretKey = "S3RVER";

    private static readonly SemaphoreSlim InstallLock = new(1, 1);

    private readonly string _directory = Path.Combine(Path.GetTempPath(), "parley-s3rver-" + Guid.NewGuid().ToString("N"));
    private Process? _process;

    public string ServiceUrl { get; private set; } = "";

    public IAmazonS3 Client { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var tool = Path.Combine(ParleyServer.RepositoryRoot, "tests", "tools", "s3rver");
        var script = Path.Combine(tool, "node_modules", "s3rver", "bin", "s3rver.js");
        await InstallOnceAsync(tool, script);
        Directory.CreateDirectory(_directory);

        var start = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { script, "-d", _directory, "-a", "127.0.0.1", "-p", "0" })
        {
            start.ArgumentList.Add(arg);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        var listening = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                output.Enqueue(line);
                if (ListeningLine().Match(line) is { Success: true } m)
                {
                    listening.TrySetResult(m.Groups[1].Value);
                }
            }
        };
        _process.ErrorDataReceived += (_, e) => output.Enqueue(e.Data ?? "");
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        _ = _process.WaitForExitAsync().ContinueWith(_ => listening.TrySetException(new InvalidOperationException("s3rver exited: " + string.Join('\n', output))), TaskScheduler.Default);

        var port = await listening.Task.WaitAsync(TimeSpan.FromSeconds(30));
        ServiceUrl = $"http://127.0.0.1:{port}";
        Client = new AmazonS3Client(
            new BasicAWSCredentials(AccessKey, SecretKey),
            new AmazonS3Config { ServiceURL = ServiceUrl, ForcePathStyle = true, AuthenticationRegion = "us-east-1", RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED, ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED });

        // Answers S3 requests (the listening line comes first, but be sure).
        await Eventually.ValueAsync(
            async () =>
            {
                try
                {
                    return (await Client.ListBucketsAsync()).HttpStatusCode;
                }
                catch (Exception ex) when (ex is HttpRequestException or AmazonServiceException)
                {
                    return (System.Net.HttpStatusCode)0;
                }
            },
            status => status == System.Net.HttpStatusCode.OK);
    }

    /// <summary>A fresh bucket for one test.</summary>
    public async Task<string> CreateBucketAsync()
    {
        var name = "parley-" + Guid.NewGuid().ToString("N")[..12];
        await Client.PutBucketAsync(name);
        return name;
    }

    /// <summary>Every object key in a bucket.</summary>
    public async Task<List<string>> KeysAsync(string bucket)
    {
        var list = await Client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket });
        return list.S3Objects?.Select(o => o.Key).ToList() ?? [];
    }

    /// <summary>The settings that put a Parley server's attachments into the bucket.</summary>
    public Dictionary<string, string?> Settings(string bucket, string prefix = "") => new()
    {
        ["Parley:Attachments:Store"] = "s3",
        ["Parley:Attachments:S3:ServiceUrl"] = ServiceUrl,
        ["Parley:Attachments:S3:Bucket"] = bucket,
        ["Parley:Attachments:S3:AccessKey"] = AccessKey,
        ["Parley:Attachments:S3:SecretKey"] = SecretKey,
        ["Parley:Attachments:S3:ForcePathStyle"] = "true",
        ["Parley:Attachments:S3:Prefix"] = prefix,
    };

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static async Task InstallOnceAsync(string tool, string script)
    {
        await InstallLock.WaitAsync();
        try
        {
            if (File.Exists(script))
            {
                return;
            }

            var npm = Process.Start(new ProcessStartInfo("npm", "ci --no-audit --no-fund") { WorkingDirectory = tool, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true })!;
            var log = npm.StandardError.ReadToEndAsync();
            await npm.StandardOutput.ReadToEndAsync();
            await npm.WaitForExitAsync();
            if (npm.ExitCode != 0 || !File.Exists(script))
            {
                throw new InvalidOperationException($"npm ci in {tool} failed ({npm.ExitCode}): {await log}");
            }
        }
        finally
        {
            InstallLock.Release();
        }
    }

    [GeneratedRegex(@"S3rver listening on [^:\s]+:(\d+)")]
    private static partial Regex ListeningLine();
}

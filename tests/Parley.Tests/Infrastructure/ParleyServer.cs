using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Parley.Server;

namespace Parley.Tests.Infrastructure;

/// <summary>A real Parley instance on a loopback port (Kestrel, real sockets) over the given storage.</summary>
public sealed class ParleyServer : IAsyncDisposable
{
    public const string AdminEmail = "admin@test.local";
    public const string AdminPassword = "Correct-Horse-9";
    public const string SiteKey = "test-site";

    private ParleyServer(WebApplication app, Uri baseAddress)
    {
        App = app;
        BaseAddress = baseAddress;
    }

    private bool _stopped;

    public WebApplication App { get; }

    public Uri BaseAddress { get; }

    public IServiceProvider Services => App.Services;

    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    /// <param name="configure">Runs on the builder after the settings: a test adds its own services (an event recorder) here.</param>
    public static async Task<ParleyServer> StartAsync(TestStorage storage, IReadOnlyDictionary<string, string?>? overrides = null, int port = 0, Action<WebApplicationBuilder>? configure = null)
    {
        var settings = storage.Settings();
        settings["Parley:Bootstrap:AdminEmail"] = AdminEmail;
        settings["Parley:Bootstrap:AdminPassword"] = AdminPassword;
        settings["Parley:Bootstrap:SiteKey"] = SiteKey;
        settings["Parley:Bootstrap:RequirePasswordChange"] = "false"; // hundreds of tests sign in as this admin; BootstrapPasswordTests turn it on
        settings["Parley:Widget:SendPerSecond"] = "100000";
        settings["Parley:Widget:SendBurst"] = "100000";
        settings["Parley:Widget:SendPerVisitorPerWindow"] = "1000000";
        settings["Parley:Widget:SessionsPerMinutePerIp"] = "100000";
        settings["Parley:Widget:ConnectsPerMinutePerIp"] = "100000";
        settings["Parley:Web:OpenApi"] = "true"; // off by default in Production (which tests run as); WeakDefaultsTests checks that
        settings["Parley:Web:Scalar"] = "true";
        settings["Parley:Widget:DemoPage"] = "true";
        settings["Parley:Governor:Enabled"] = "false"; // a busy test machine must not shed typing or sessions; LoadSheddingTests turn it on
        settings["Logging:LogLevel:Default"] = "Warning";
        settings["Logging:LogLevel:Microsoft.AspNetCore"] = "Error";
        settings["Logging:LogLevel:Microsoft.EntityFrameworkCore.Database.Command"] = "None"; // migrations probe missing tables on purpose
        settings["Logging:LogLevel:Microsoft.AspNetCore.SignalR.Internal.DefaultHubDispatcher"] = "Critical";
        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        var contentRoot = Path.Combine(RepositoryRoot, "src", "Parley.Server");
        var app = ParleyApp.Create(
            [$"--contentRoot={contentRoot}", $"--urls=http://127.0.0.1:{port}"],
            builder =>
            {
                builder.Configuration.AddInMemoryCollection(settings);
                configure?.Invoke(builder);
            });
        try
        {
            await app.StartAsync(TestContext.Current.CancellationToken);
        }
        catch
        {
            // A server that fails to start (options validation) still holds its services and files.
            await app.DisposeAsync();
            throw;
        }

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new ParleyServer(app, new Uri(address));
    }

    public HttpClient CreateHttpClient() => new() { BaseAddress = BaseAddress };

    public async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        await App.StopAsync(CancellationToken.None);
        await App.DisposeAsync();
    }

    public ValueTask DisposeAsync() => new(StopAsync());

    internal static string FindRepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Parley.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Cannot find the repository root (Parley.slnx).");
    }
}

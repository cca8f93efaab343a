using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Parley.Server.Realtime;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Contract;

/// <summary>
/// The keep-alive contract lives in <see cref="RealtimeOptions"/> (the browsers' side as constants, the server's as
/// options bounded by them) and is copied by the widget and console (web/packages/shared/src/hub.ts), the load
/// generator and the README: a copy that drifts, or server settings that would make a client give up on a healthy
/// connection, fail here.
/// </summary>
public sealed partial class KeepAliveContractTests
{
    private static readonly string Root = ParleyServer.FindRepositoryRoot();

    [Fact]
    public void BrowsersKeepAlive_InHubTs_IsTheServersCopy()
    {
        var ts = File.ReadAllText(Path.Combine(Root, "web", "packages", "shared", "src", "hub.ts"));
        Assert.Equal(RealtimeOptions.ClientKeepAliveSeconds * 1000, TsConstant(ts, "KEEP_ALIVE_MS"));
        Assert.Equal(RealtimeOptions.ClientServerTimeoutSeconds * 1000, TsConstant(ts, "SERVER_TIMEOUT_MS"));
        Assert.Contains(".withKeepAliveInterval(KEEP_ALIVE_MS)", ts, StringComparison.Ordinal);
        Assert.Contains(".withServerTimeout(SERVER_TIMEOUT_MS)", ts, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadGenerator_PingsAsTheBrowsersDo()
    {
        var options = File.ReadAllText(Path.Combine(Root, "bench", "Parley.LoadTest", "Options.cs"));
        var match = LoadTestConstant().Match(options);
        Assert.True(match.Success, "Options.ClientKeepAliveSeconds not found in bench/Parley.LoadTest/Options.cs");
        Assert.Equal(RealtimeOptions.ClientKeepAliveSeconds, double.Parse(match.Groups["v"].Value, CultureInfo.InvariantCulture));

        // The console bench's visitor is a SignalR .NET client too.
        var consoleBench = ConsoleBenchClient().Match(File.ReadAllText(Path.Combine(Root, "bench", "Parley.ConsoleBench", "Program.cs")));
        Assert.True(consoleBench.Success, "the keep-alive settings of bench/Parley.ConsoleBench/Program.cs's hub client not found");
        Assert.Equal(RealtimeOptions.ClientServerTimeoutSeconds, int.Parse(consoleBench.Groups["timeout"].Value, CultureInfo.InvariantCulture));
        Assert.Equal(RealtimeOptions.ClientKeepAliveSeconds, int.Parse(consoleBench.Groups["ping"].Value, CultureInfo.InvariantCulture));
    }

    [Fact]
    public void Defaults_LeaveEachSideASpareInterval_AndTheReadmeSaysThem()
    {
        var defaults = new RealtimeOptions();
        Assert.True(defaults.KeepAliveSeconds * 2 <= RealtimeOptions.ClientServerTimeoutSeconds);
        Assert.True(defaults.ClientTimeoutSeconds >= RealtimeOptions.ClientKeepAliveSeconds * 2);
        var readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        Assert.Contains($"| `Parley__Realtime__KeepAliveSeconds` / `ClientTimeoutSeconds` | `{defaults.KeepAliveSeconds}` / `{defaults.ClientTimeoutSeconds}` |", readme, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(nameof(RealtimeOptions.KeepAliveSeconds), RealtimeOptions.ClientServerTimeoutSeconds / 2 + 1)]
    [InlineData(nameof(RealtimeOptions.ClientTimeoutSeconds), RealtimeOptions.ClientKeepAliveSeconds * 2 - 1)]
    public void SettingsThatWouldDropHealthyClients_AreRefused(string setting, int value)
    {
        var options = new RealtimeOptions();
        typeof(RealtimeOptions).GetProperty(setting, BindingFlags.Public | BindingFlags.Instance)!.SetValue(options, value);
        var errors = new List<ValidationResult>();
        Assert.False(Validator.TryValidateObject(options, new ValidationContext(options), errors, validateAllProperties: true));
        Assert.Contains(errors, e => e.MemberNames.Contains(setting));
    }

    [Fact]
    public async Task TheServer_RunsWithTheContractsDefaults()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        var options = server.Services.GetRequiredService<IOptions<Microsoft.AspNetCore.SignalR.HubOptions>>().Value;
        Assert.Equal(TimeSpan.FromSeconds(new RealtimeOptions().KeepAliveSeconds), options.KeepAliveInterval);
        Assert.Equal(TimeSpan.FromSeconds(new RealtimeOptions().ClientTimeoutSeconds), options.ClientTimeoutInterval);
    }

    private static int TsConstant(string ts, string name)
    {
        var match = Regex.Match(ts, $@"export const {name} = (?<v>[0-9_]+);", RegexOptions.None, TimeSpan.FromSeconds(1));
        Assert.True(match.Success, $"{name} not found in hub.ts");
        return int.Parse(match.Groups["v"].Value.Replace("_", "", StringComparison.Ordinal), CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"const double ClientKeepAliveSeconds = (?<v>[0-9.]+);")]
    private static partial Regex LoadTestConstant();

    [GeneratedRegex(@"WithServerTimeout\(TimeSpan\.FromSeconds\((?<timeout>[0-9]+)\)\)\.WithKeepAliveInterval\(TimeSpan\.FromSeconds\((?<ping>[0-9]+)\)\)")]
    private static partial Regex ConsoleBenchClient();
}

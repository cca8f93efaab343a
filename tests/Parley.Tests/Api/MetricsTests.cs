using Parley.Tests.Infrastructure;

namespace Parley.Tests.Api;

/// <summary>
/// Runs alone: OpenTelemetry subscribes to meters by name process-wide, so servers of tests running beside it
/// would add their counts to this server's /metrics.
/// </summary>
[CollectionDefinition(nameof(MetricsTests), DisableParallelization = true)]
public sealed class MetricsRunsAlone;

[Collection(nameof(MetricsTests))]
public sealed class MetricsTests
{
    [Fact]
    public async Task Metrics_ExposeStoredMessagesInPrometheusFormat()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "one");
        await visitor.SendAsync(conversation.Id, "two");
        using var http = server.CreateHttpClient();

        var text = await http.GetStringAsync("/metrics", TestContext.Current.CancellationToken);

        var line = text.Split('\n').Single(l => l.StartsWith("parley_messages_stored_total", StringComparison.Ordinal));
        Assert.Equal("2", line.Split(' ')[^1]);
        Assert.Contains("dotnet_gc_heap_total_allocated_bytes_total", text, StringComparison.Ordinal);
    }
}

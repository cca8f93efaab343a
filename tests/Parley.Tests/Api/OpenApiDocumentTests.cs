using System.Text.Json;
using System.Text.Json.Nodes;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Api;

/// <summary>
/// The committed OpenAPI document (docs/openapi/v1.json) is what integrators code against; this fails when the
/// running API drifts from it. After an intended API change: PARLEY_UPDATE_OPENAPI=1 ./test.sh, review, then
/// `cd web && npm run gen:api` (the TypeScript REST types generated from it), commit both.
/// </summary>
public sealed class OpenApiDocumentTests
{
    [Fact]
    public async Task CommittedOpenApiDocument_MatchesTheRunningServer()
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        using var http = server.CreateHttpClient();
        var live = JsonNode.Parse(await http.GetStringAsync("/openapi/v1.json", TestContext.Current.CancellationToken))!.AsObject();
        live.Remove("servers"); // the address of this test instance, not part of the contract

        var path = Path.Combine(ParleyServer.RepositoryRoot, "docs", "openapi", "v1.json");
        var rendered = live.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
        if (Environment.GetEnvironmentVariable("PARLEY_UPDATE_OPENAPI") == "1")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await File.WriteAllTextAsync(path, rendered, TestContext.Current.CancellationToken);
        }

        Assert.True(File.Exists(path), "docs/openapi/v1.json is missing; generate it with PARLEY_UPDATE_OPENAPI=1");
        var committed = JsonNode.Parse(await File.ReadAllTextAsync(path, TestContext.Current.CancellationToken));
        Assert.True(JsonNode.DeepEquals(committed, live), "The API changed: regenerate docs/openapi/v1.json with PARLEY_UPDATE_OPENAPI=1 and review the diff.");
    }
}

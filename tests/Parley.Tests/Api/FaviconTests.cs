using Parley.Tests.Infrastructure;

namespace Parley.Tests.Api;

/// <summary>Every page Parley serves names an icon, so browsers show Parley's tab icon instead of asking for a missing /favicon.ico.</summary>
public sealed class FaviconTests
{
    [Theory]
    [InlineData("/console/")]
    [InlineData("/chat/" + ParleyServer.SiteKey)]
    [InlineData("/demo")]
    public async Task Page_NamesAnInlineIcon(string path)
    {
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        using var http = server.CreateHttpClient();
        var html = await http.GetStringAsync(path, TestContext.Current.CancellationToken);
        Assert.Contains("<link rel=\"icon\" type=\"image/svg+xml\" href=\"data:image/svg+xml,", html, StringComparison.Ordinal);
    }
}

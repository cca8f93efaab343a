using Parley.Server.Features.Adapters;

namespace Parley.Tests.Security;

/// <summary>Context-card links come from another system's data: only http(s) links reach the console (#15).</summary>
public sealed class ContextCardLinkTests
{
    [Theory]
    [InlineData("javascript:alert(document.cookie)")]
    [InlineData(" JavaScript:alert(1)")]
    [InlineData("data:text/html,<script>alert(1)</script>")]
    [InlineData("vbscript:msgbox")]
    [InlineData("/relative/path")]
    public void NonHttpLinks_AreDropped(string url) =>
        Assert.Null(ContextService.WithSafeLink(new("orders", "Order 1", null, null, url, [])).Url);

    [Theory]
    [InlineData("https://shop.example/admin/orders/1")]
    [InlineData("http://shop.example/o/1")]
    public void HttpLinks_AreKept(string url) =>
        Assert.Equal(url, ContextService.WithSafeLink(new("orders", "Order 1", null, null, url, [])).Url);
}

using Parley.Adapters;
using Parley.Server.Features.Adapters;

namespace Parley.Tests.Security;

/// <summary>
/// Context adapter URL placeholders (penetration test, #15): a visitor's unverified phone <c>..</c> in
/// <c>/crm/customers/{phone}/orders</c> made the internal system receive <c>GET /crm/orders</c> with the adapter's credentials.
/// </summary>
public sealed class AdapterPlaceholderTests
{
    private const string Template = "https://crm.internal/crm/customers/{phone}/orders";

    [Theory]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData(" .. ")]
    [InlineData("../admin")]
    [InlineData("a/b")]
    [InlineData("a\\b")]
    [InlineData("..%2Fadmin")]
    [InlineData("%2e%2e")]
    public void DotSegmentsAndSlashes_InAPlaceholderValue_MakeTheContactUnqueryable(string phone)
    {
        var adapter = Adapter(Template, allowUnverified: true);
        Assert.Null(adapter.BuildUrl(Contact(phone: phone)));
    }

    [Fact]
    public void PlainValues_AreEscapedIntoTheirSegment()
    {
        var adapter = Adapter(Template, allowUnverified: true);
        Assert.Equal("https://crm.internal/crm/customers/%2B1%20555%200100/orders", adapter.BuildUrl(Contact(phone: "+1 555 0100")));
        Assert.Equal("https://crm.internal/crm/customers/a..b/orders", adapter.BuildUrl(Contact(phone: "a..b")));
    }

    [Fact]
    public void UnverifiedFields_FillNoPlaceholder_UnlessTheAdminOptsIn()
    {
        var strict = Adapter(Template, allowUnverified: false);
        Assert.Null(strict.BuildUrl(Contact(phone: "+15550100")));
        Assert.Null(Adapter("https://crm.internal/c?email={email}", allowUnverified: false).BuildUrl(Contact(phone: null, email: "ceo@shop.example")));
        Assert.Null(Adapter("https://crm.internal/c/{attributes.plan}", allowUnverified: false).BuildUrl(Contact(phone: null)));

        // The verified external id (bound only with a valid identity hash) and Parley's own id always work.
        Assert.Equal("https://crm.internal/customers/u-42/orders", Adapter("https://crm.internal/customers/{externalId}/orders", allowUnverified: false).BuildUrl(Contact(phone: null)));
        Assert.NotNull(Adapter("https://crm.internal/contacts/{id}", allowUnverified: false).BuildUrl(Contact(phone: null)));
    }

    private static HttpContextAdapter Adapter(string template, bool allowUnverified) =>
        new(new HttpAdapterOptions { Name = "crm", UrlTemplate = template, Title = "{id}", AllowUnverifiedPlaceholders = allowUnverified }, new HttpClient());

    private static ContactInfo Contact(string? phone, string? email = null) =>
        new(Guid.NewGuid(), "u-42", "Ada", email, phone, new Dictionary<string, string> { ["plan"] = "gold" });
}

using Microsoft.EntityFrameworkCore;
using Microsoft.Playwright;
using Parley.Data;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;
using static Parley.Tests.Privacy.PrivacyTestKit;

namespace Parley.Tests.Privacy;

/// <summary>#21 in real Chromium: the retention setting on the site page, and merge / erase in the contact panel.</summary>
public sealed class PrivacyBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const int Timeout = 20_000;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Admin_SetsRetention_MergesAndErasesAContact_FromTheConsole()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage, new Dictionary<string, string?> { ["Parley:Retention:Enabled"] = "false" });
        await using var data = await VisitorWithDataAsync(server, "please delete my data");
        var other = (await VisitorClient.CreateSessionAsync(server)).ContactId;

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1440, Height = 1000 } });
        var page = await ConsolePage.SignInAsync(context, server);

        // Retention: a bad number is refused on the client with the server's message, a good one is stored.
        await ConsolePage.NavigateAsync(page, "nav-widget-settings");
        await page.GetByTestId("retention-keep").UncheckAsync(new() { Timeout = Timeout });
        await page.GetByTestId("retention-days").FillAsync("0");
        await page.GetByTestId("retention-save").ClickAsync();
        await Assertions.Expect(page.GetByTestId("retention-status")).ToHaveTextAsync("Enter a number of days between 1 and 3650.", new() { Timeout = Timeout });
        await page.GetByTestId("retention-days").FillAsync("90");
        await page.GetByTestId("retention-anonymise").CheckAsync();
        await page.GetByTestId("retention-save").ClickAsync();
        await Assertions.Expect(page.GetByTestId("retention-status")).ToHaveTextAsync("Saved.", new() { Timeout = Timeout });
        await page.GetByTestId("retention-settings").ScreenshotAsync(new() { Path = Screenshots.PathOf("console-retention.png") });
        var site = await Db(server, db => db.Sites.AsNoTracking().SingleAsync(s => s.Key == ParleyServer.SiteKey, Ct));
        Assert.Equal((90, RetentionMode.Anonymise), (site.RetentionDays, site.RetentionMode));

        // The contact panel: merge the other visitor in (confirmed), then erase (confirmed).
        await page.GotoAsync(new Uri(server.BaseAddress, "/console/").ToString());
        await page.GetByTestId("inbox-item").First.ClickAsync(new() { Timeout = Timeout });
        var panel = page.GetByTestId("contact-data");
        await Assertions.Expect(panel).ToBeVisibleAsync(new() { Timeout = Timeout });
        await panel.GetByTestId("contact-merge-id").FillAsync("not-an-id");
        await panel.GetByTestId("contact-merge").ClickAsync();
        await Assertions.Expect(panel.GetByTestId("contact-data-status")).ToHaveTextAsync("Enter the id of another contact (a UUID).");
        await panel.GetByTestId("contact-merge-id").FillAsync(other.ToString());
        await panel.GetByTestId("contact-merge").ClickAsync();
        await panel.GetByTestId("contact-data-confirm-yes").ClickAsync();
        await Assertions.Expect(panel.GetByTestId("contact-data-status")).ToHaveTextAsync("Merged.", new() { Timeout = Timeout });
        Assert.False(await Db(server, db => db.Contacts.AnyAsync(c => c.Id == other, Ct)));

        await panel.GetByTestId("contact-erase").ClickAsync();
        await Assertions.Expect(panel.GetByTestId("contact-data-confirm")).ToContainTextAsync("cannot be undone");
        await page.ScreenshotAsync(new() { Path = Screenshots.PathOf("console-contact-erase.png") });
        await panel.GetByTestId("contact-data-confirm-no").ClickAsync();
        Assert.Null((await Db(server, db => db.Contacts.AsNoTracking().SingleAsync(c => c.Id == data.ContactId, Ct))).ErasedAt);
        await panel.GetByTestId("contact-erase").ClickAsync();
        await panel.GetByTestId("contact-data-confirm-yes").ClickAsync();
        await Eventually.ValueAsync(() => Db(server, db => db.Contacts.AsNoTracking().Where(c => c.Id == data.ContactId).Select(c => c.ErasedAt).SingleAsync(Ct)), at => at is not null);
        Assert.False(File.Exists(FileOf(server, data.StorageKey)));
    }
}

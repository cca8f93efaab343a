using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.Playwright;
using Parley.Data;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Console;

/// <summary>Supervisor monitor / whisper / take-over on a conversation, and the CSAT rating, in real Chromium.</summary>
public sealed class SupervisionBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const int Timeout = 20_000;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Supervisor_MonitorsWhispersToTheAgent_AndTakesOver_AndSeesTheVisitorsRating()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        var ann = await server.CreateUserAsync("ann@test.local", "Ann Agent");
        await server.CreateUserAsync("sam@test.local", "Sam Supervisor", UserRole.Supervisor);
        await using var visitor = await VisitorClient.ConnectAsync(server);
        var conversation = await visitor.StartConversationAsync();
        await visitor.SendAsync(conversation.Id, "My order never arrived");

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1440, Height = 900 } });
        var sam = await ConsolePage.SignInAsync(context, server, "sam@test.local", UserSeeding.Password);
        await sam.GotoAsync(new Uri(server.BaseAddress, $"/console/#/c/{conversation.Id}").ToString());
        var bar = sam.GetByTestId("supervisor-bar");
        await Assertions.Expect(bar).ToBeVisibleAsync(new() { Timeout = Timeout });

        // Nobody holds it yet: a whisper has no one to go to (the server's rule, checked first in the page).
        await bar.GetByTestId("whisper").ClickAsync();
        await sam.GetByTestId("whisper-body").FillAsync("Offer a refund");
        await sam.GetByTestId("whisper-send").ClickAsync();
        await Assertions.Expect(sam.GetByTestId("supervisor-error")).ToHaveAttributeAsync("data-code", "no_assignee");
        await Assertions.Expect(bar.GetByTestId("take-over")).ToHaveCountAsync(0);

        // Ann is given it; Sam monitors: the reply box goes, the visitor's next message arrives live.
        using var annHttp = (await AgentClient.SignInAsync(server)).Http; // the admin, reading as Ann's colleague
        var assigned = await annHttp.PostAsJsonAsync($"/api/v1/conversations/{conversation.Id}/assign", new { userId = ann.Id }, Ct);
        Assert.True(assigned.IsSuccessStatusCode, await assigned.Content.ReadAsStringAsync(Ct));
        await Assertions.Expect(sam.GetByTestId("conversation-assignee")).ToContainTextAsync("Ann Agent", new() { Timeout = Timeout });
        await bar.GetByTestId("monitor").ClickAsync();
        await Assertions.Expect(bar.GetByTestId("monitor")).ToHaveAttributeAsync("aria-pressed", "true");
        await Assertions.Expect(sam.GetByTestId("monitoring")).ToBeVisibleAsync();
        await Assertions.Expect(sam.GetByTestId("composer-input")).ToHaveCountAsync(0);
        await visitor.SendAsync(conversation.Id, "Hello? Anyone?");
        await Assertions.Expect(sam.Locator("[data-testid=message][data-sender-kind=visitor]").Last.GetByTestId("message-body")).ToHaveTextAsync("Hello? Anyone?", new() { Timeout = Timeout });

        // Whisper: a note to Ann, never to the visitor.
        await sam.GetByTestId("whisper-body").FillAsync("Offer a refund");
        await sam.GetByTestId("whisper-send").ClickAsync();
        await Assertions.Expect(sam.GetByTestId("supervisor-status")).ToHaveTextAsync("Whisper sent.", new() { Timeout = Timeout });
        await Assertions.Expect(sam.Locator("[data-testid=message]").Last.GetByTestId("note-label")).ToBeVisibleAsync(new() { Timeout = Timeout });
        await sam.ScreenshotAsync(new() { Path = Screenshots.PathOf("console-supervision.png") });
        var history = await annHttp.GetFromJsonAsync<System.Text.Json.JsonElement>($"/api/v1/conversations/{conversation.Id}/messages", Ct);
        Assert.Contains("Offer a refund", history.GetRawText(), StringComparison.Ordinal);
        Assert.DoesNotContain(visitor.Messages.Snapshot(), m => m.Body == "Offer a refund");

        // Take over (after confirming): Sam holds it, monitoring ends, the reply box is back.
        await bar.GetByTestId("take-over").ClickAsync();
        await Assertions.Expect(sam.GetByTestId("confirm-dialog")).ToContainTextAsync("Ann Agent");
        await sam.GetByTestId("confirm-ok").ClickAsync();
        await Assertions.Expect(sam.GetByTestId("conversation-assignee")).ToContainTextAsync("Sam Supervisor", new() { Timeout = Timeout });
        await Assertions.Expect(sam.GetByTestId("supervisor-status")).ToHaveTextAsync("You hold this conversation now.");
        await Assertions.Expect(sam.GetByTestId("composer-input")).ToBeVisibleAsync();
        await Assertions.Expect(bar.GetByTestId("take-over")).ToHaveCountAsync(0);

        // CSAT: the visitor rates the closed conversation; the header and the contact panel show it live / on load.
        await sam.GetByTestId("close-conversation").ClickAsync();
        await Assertions.Expect(sam.GetByTestId("conversation-status")).ToHaveAttributeAsync("data-status", "closed", new() { Timeout = Timeout });
        using var visitorHttp = server.CreateHttpClient();
        visitorHttp.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", visitor.Token);
        (await visitorHttp.PostAsJsonAsync($"/api/v1/widget/conversations/{conversation.Id}/rating", new { score = 4, comment = "Quick refund, thanks" }, Ct)).EnsureSuccessStatusCode();
        var csat = sam.GetByTestId("csat");
        await Assertions.Expect(csat).ToHaveAttributeAsync("data-score", "4", new() { Timeout = Timeout });
        await Assertions.Expect(csat.GetByTestId("csat-comment")).ToHaveTextAsync("Quick refund, thanks");
        await sam.ReloadAsync();
        await Assertions.Expect(sam.GetByTestId("csat")).ToHaveAttributeAsync("data-score", "4", new() { Timeout = Timeout });
        await Assertions.Expect(sam.GetByTestId("contact-csat")).ToHaveAttributeAsync("data-score", "4", new() { Timeout = Timeout });
        await Assertions.Expect(sam.GetByTestId("contact-csat")).ToContainTextAsync("Quick refund, thanks");
        await sam.ScreenshotAsync(new() { Path = Screenshots.PathOf("console-csat.png") });
    }
}

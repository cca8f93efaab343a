using Microsoft.Playwright;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.E2E;

/// <summary>The agent console in a browser context, as the browser tests open it.</summary>
public static class ConsolePage
{
    /// <summary>Opens the console in a new page of <paramref name="context"/>, signs in, and waits until its hub is connected.</summary>
    public static async Task<IPage> SignInAsync(IBrowserContext context, ParleyServer server, string email = ParleyServer.AdminEmail, string password = ParleyServer.AdminPassword)
    {
        var page = await context.NewPageAsync();
        await page.GotoAsync(new Uri(server.BaseAddress, "/console/").ToString());
        await page.GetByTestId("login-email").FillAsync(email);
        await page.GetByTestId("login-password").FillAsync(password);
        await page.GetByTestId("login-submit").ClickAsync();
        await Assertions.Expect(page.GetByTestId("connection-state")).ToHaveAttributeAsync("data-state", "connected", new() { Timeout = 20_000 });
        return page;
    }

    /// <summary>
    /// Follows a header link by its test id. Supervisors' and admins' less frequent destinations are in the "Admin"
    /// menu: it is opened first when the link is not in view (agents have no menu; their links are in the bar).
    /// </summary>
    public static async Task NavigateAsync(IPage page, string testId)
    {
        // Right after signing in the header may not be there yet: wait for the link or the menu, whichever it has.
        var link = page.GetByTestId(testId);
        await page.Locator($"[data-testid=nav-admin], [data-testid={testId}]").First.WaitForAsync(new() { State = WaitForSelectorState.Visible, Timeout = 20_000 });
        if (!await link.IsVisibleAsync())
        {
            await page.GetByTestId("nav-admin").ClickAsync();
        }

        await link.ClickAsync();
    }
}

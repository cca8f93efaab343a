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
}

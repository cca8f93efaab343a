using Microsoft.Playwright;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Console;

/// <summary>
/// #21: two-factor enrolment on the account page in real Chromium — QR code and key, a code computed here as an
/// authenticator app would, recovery codes shown once — then signing in again with a recovery code (in zh-CN).
/// </summary>
public sealed class TwoFactorBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const int Timeout = 20_000;

    [Fact]
    public async Task Agent_EnrolsFromTheQrCode_SeesRecoveryCodesOnce_AndSignsInWithOne()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);
        await server.CreateUserAsync("tia@test.local", "Tia Agent");

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1440, Height = 900 } });
        var page = await ConsolePage.SignInAsync(context, server, "tia@test.local", UserSeeding.Password);
        await page.GetByTestId("current-user").ClickAsync();
        await Assertions.Expect(page.GetByTestId("tfa-state")).ToHaveAttributeAsync("data-enabled", "false", new() { Timeout = Timeout });

        // Start: a QR code drawn from the otpauth URI, the key as text, and the code field focused for the keyboard.
        await page.GetByTestId("tfa-start").ClickAsync();
        var qr = page.GetByTestId("tfa-qr");
        await Assertions.Expect(qr).ToBeVisibleAsync(new() { Timeout = Timeout });
        Assert.True((await qr.Locator("path").GetAttributeAsync("d"))!.Length > 500);
        var secret = (await page.GetByTestId("tfa-secret").TextContentAsync())!.Replace(" ", "", StringComparison.Ordinal);
        Assert.Matches("^[A-Z2-7]{32}$", secret);
        await Assertions.Expect(page.GetByTestId("tfa-code")).ToBeFocusedAsync();

        // A malformed code is refused before sending, with the server's code and text.
        await page.Keyboard.TypeAsync("12");
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page.GetByTestId("tfa-error")).ToHaveAttributeAsync("data-code", "invalid_totp");
        await Assertions.Expect(page.GetByTestId("tfa-error")).ToContainTextAsync("wrong or expired");

        var enableStep = TotpCodes.StepNow(server);
        await page.GetByTestId("tfa-code").FillAsync(TotpCodes.Code(secret, enableStep));
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page.GetByTestId("tfa-status")).ToHaveTextAsync("Two-factor sign-in is on.", new() { Timeout = Timeout });
        await Assertions.Expect(page.GetByTestId("tfa-state")).ToHaveAttributeAsync("data-enabled", "true");
        await Assertions.Expect(page.GetByTestId("tfa-left")).ToHaveAttributeAsync("data-left", "10");
        var codes = await page.GetByTestId("tfa-recovery-code").AllTextContentsAsync();
        Assert.Equal(10, codes.Count);
        await page.ScreenshotAsync(new() { Path = Screenshots.PathOf("console-two-factor.png"), FullPage = true });

        // Shown once: after "saved" they are nowhere on the page, and the API never returns them again.
        await page.GetByTestId("tfa-codes-done").ClickAsync();
        await Assertions.Expect(page.GetByTestId("tfa-codes")).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator("body")).Not.ToContainTextAsync(codes[0]);
        await page.GetByTestId("sign-out").ClickAsync();
        await Assertions.Expect(page.GetByTestId("login-email")).ToBeVisibleAsync(new() { Timeout = Timeout });

        // Sign in again in Chinese: password, then the second step; a recovery code in place of the app's code.
        await using var zhContext = await browser.Browser.NewContextAsync(new() { Locale = "zh-CN", ViewportSize = new() { Width = 1440, Height = 900 } });
        var zh = await zhContext.NewPageAsync();
        await zh.GotoAsync(new Uri(server.BaseAddress, "/console/").ToString());
        await zh.GetByTestId("login-email").FillAsync("tia@test.local");
        await zh.GetByTestId("login-password").FillAsync(UserSeeding.Password);
        await zh.GetByTestId("login-submit").ClickAsync();
        var code = zh.GetByTestId("login-code");
        await Assertions.Expect(code).ToHaveAttributeAsync("data-kind", "totp", new() { Timeout = Timeout });
        await Assertions.Expect(code).ToBeFocusedAsync();
        await zh.GetByTestId("login-use-recovery").ClickAsync();
        await Assertions.Expect(code).ToHaveAttributeAsync("data-kind", "recovery");
        await Assertions.Expect(zh.Locator("label[for=login-code]")).ToHaveTextAsync("恢复码");
        await code.FillAsync("ABCD-EFGH-JKMN-PQRS");
        await zh.Keyboard.PressAsync("Enter");
        await Assertions.Expect(zh.GetByTestId("login-error")).ToHaveTextAsync("验证码错误或已被使用。", new() { Timeout = Timeout });
        await zh.ScreenshotAsync(new() { Path = Screenshots.PathOf("console-two-factor-login.png") });
        await code.FillAsync(codes[3].ToLowerInvariant());
        await zh.GetByTestId("login-code-submit").ClickAsync();
        await Assertions.Expect(zh.GetByTestId("connection-state")).ToHaveAttributeAsync("data-state", "connected", new() { Timeout = Timeout });

        // One code spent; then turning it off takes a current code from the app.
        await zh.GetByTestId("current-user").ClickAsync();
        await Assertions.Expect(zh.GetByTestId("tfa-left")).ToHaveAttributeAsync("data-left", "9", new() { Timeout = Timeout });
        await Assertions.Expect(zh.GetByTestId("tfa-left")).ToHaveTextAsync("剩余 9 个恢复码");
        await zh.GetByTestId("tfa-disable").ClickAsync();
        await Assertions.Expect(zh.GetByTestId("tfa-action-code")).ToBeFocusedAsync();
        await zh.Keyboard.TypeAsync(TotpCodes.Code(secret, Math.Max(TotpCodes.StepNow(server), enableStep + 1)));
        await zh.Keyboard.PressAsync("Enter");
        await Assertions.Expect(zh.GetByTestId("tfa-status")).ToHaveTextAsync("两步验证已关闭。", new() { Timeout = Timeout });
        await Assertions.Expect(zh.GetByTestId("tfa-state")).ToHaveAttributeAsync("data-enabled", "false");
    }
}

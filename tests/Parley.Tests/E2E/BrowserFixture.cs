using Microsoft.Playwright;

namespace Parley.Tests.E2E;

/// <summary>One headless Debian Chromium per test class, driven by Playwright.</summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    private IPlaywright? _playwright;

    public IBrowser Browser { get; private set; } = null!;

    public static string ChromiumPath => Environment.GetEnvironmentVariable("PARLEY_CHROMIUM") ?? "/usr/bin/chromium";

    public async ValueTask InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"Chromium not found at {ChromiumPath}; browser tests may not be skipped under CI.");
            }

            return;
        }

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args =
            [
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic",
                // The widget iframe and the page are both on loopback here; in production they are public hosts.
                "--disable-features=LocalNetworkAccessChecks",
            ],
        });
    }

    public void SkipIfUnavailable()
    {
        if (_playwright is null)
        {
            Assert.Skip($"Chromium not installed at {ChromiumPath}; skipped outside CI.");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_playwright is not null)
        {
            await Browser.DisposeAsync();
            _playwright.Dispose();
        }
    }
}

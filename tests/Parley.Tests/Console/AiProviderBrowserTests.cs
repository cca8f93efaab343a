using Microsoft.Playwright;
using Parley.Tests.Ai;
using Parley.Tests.E2E;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Console;

/// <summary>
/// The admin's LLM provider page (#/admin/ai) in real Chromium against a fake OpenAI-compatible server: test the
/// connection before saving (ok, then the provider's error), save, and the API key shown only as set with its last
/// four characters, in zh-CN.
/// </summary>
public sealed class AiProviderBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const int Timeout = 20_000;
    private const string Key = "sk-browser-test-9876";

    [Fact]
    public async Task Admin_TestsTheConnection_SavesTheProvider_AndSeesOnlyTheKeysLastFourCharacters()
    {
        browser.SkipIfUnavailable();
        await using var fake = await FakeOpenAi.StartAsync();
        fake.Content = "OK";
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "zh-CN", ViewportSize = new() { Width = 1440, Height = 900 } });
        var page = await ConsolePage.SignInAsync(context, server);
        await ConsolePage.NavigateAsync(page, "nav-ai-provider");
        await Assertions.Expect(page.GetByTestId("llm-source")).ToHaveTextAsync("当前来自服务器配置（appsettings），在此保存后以此为准。", new() { Timeout = Timeout });
        await Assertions.Expect(page.GetByTestId("llm-key-state")).ToHaveTextAsync("未设置密钥（本地服务无需密钥）。");

        await page.GetByTestId("llm-enabled").CheckAsync();
        await page.GetByTestId("llm-base-url").FillAsync(fake.BaseUrl);
        await page.GetByTestId("llm-chat-model").FillAsync("qwen2.5:7b-instruct");
        await page.GetByTestId("llm-api-key").FillAsync(Key);
        await page.GetByTestId("llm-timeout").FillAsync("10000"); // a cold first connection on a busy machine

        // Test before saving: the form's values, the key included.
        await page.GetByTestId("llm-test").ClickAsync();
        var result = page.GetByTestId("llm-test-result");
        await Assertions.Expect(result).ToHaveAttributeAsync("data-ok", "true", new() { Timeout = Timeout });
        await Assertions.Expect(result).ToContainTextAsync("连接成功");
        Assert.Contains($"Bearer {Key}", fake.Authorizations);

        fake.Status = 500;
        await page.GetByTestId("llm-test").ClickAsync();
        await Assertions.Expect(result).ToHaveAttributeAsync("data-ok", "false", new() { Timeout = Timeout });
        await Assertions.Expect(result).ToContainTextAsync("http_error");
        fake.Status = 200;

        await page.GetByTestId("llm-save").ClickAsync();
        await Assertions.Expect(page.GetByTestId("llm-status")).ToHaveTextAsync("已保存，所有服务器立即生效。", new() { Timeout = Timeout });
        await Assertions.Expect(page.GetByTestId("llm-key-state")).ToHaveTextAsync("已设置密钥（…9876）。输入新密钥可替换。");
        await Assertions.Expect(page.GetByTestId("llm-api-key")).ToHaveValueAsync("");
        await page.ScreenshotAsync(new() { Path = Screenshots.PathOf("console-llm-provider.png"), FullPage = true });

        // After a reload: saved in the console, the key still only as its last four characters.
        await page.ReloadAsync();
        await Assertions.Expect(page.GetByTestId("llm-source")).ToHaveTextAsync("已在控制台保存。", new() { Timeout = Timeout });
        await Assertions.Expect(page.GetByTestId("llm-base-url")).ToHaveValueAsync(fake.BaseUrl);
        await Assertions.Expect(page.GetByTestId("llm-key-state")).ToContainTextAsync("…9876");
        Assert.DoesNotContain(Key, await page.ContentAsync(), StringComparison.Ordinal);

        // A bad value is refused with the server's error code.
        await page.GetByTestId("llm-base-url").FillAsync("ftp://models.example.com/v1");
        await page.GetByTestId("llm-save").ClickAsync();
        await Assertions.Expect(page.GetByTestId("llm-status")).ToContainTextAsync("invalid_settings", new() { Timeout = Timeout });
    }

    [Fact]
    public async Task InvalidSettings_ShowTheServersExplanation_NotJustTheCode()
    {
        browser.SkipIfUnavailable();
        await using var storage = await TestStorage.CreateAsync(Store.Sqlite);
        await using var server = await ParleyServer.StartAsync(storage);

        await using var context = await browser.Browser.NewContextAsync(new() { Locale = "en-US", ViewportSize = new() { Width = 1440, Height = 900 } });
        var page = await ConsolePage.SignInAsync(context, server);
        await ConsolePage.NavigateAsync(page, "nav-ai-provider");
        await Assertions.Expect(page.GetByTestId("llm-base-url")).ToBeVisibleAsync(new() { Timeout = Timeout });

        // Saving: the first bad value, as the server words it, with the code for reference.
        await page.GetByTestId("llm-enabled").CheckAsync();
        await page.GetByTestId("llm-base-url").FillAsync("http://127.0.0.1:11434/v1");
        await page.GetByTestId("llm-chat-model").FillAsync("");
        await page.GetByTestId("llm-save").ClickAsync();
        var status = page.GetByTestId("llm-status");
        await Assertions.Expect(status).ToHaveTextAsync("Could not save: chatModel must be 1 to 200 characters. (invalid_settings)", new() { Timeout = Timeout });
        await Assertions.Expect(status).ToHaveAttributeAsync("data-ok", "false");

        // Testing the connection with a bad value: the same explanation, and nothing is called.
        await page.GetByTestId("llm-chat-model").FillAsync("qwen2.5:7b-instruct");
        await page.GetByTestId("llm-timeout").FillAsync("100");
        await page.GetByTestId("llm-test").ClickAsync();
        var result = page.GetByTestId("llm-test-result");
        await Assertions.Expect(result).ToHaveAttributeAsync("data-ok", "false", new() { Timeout = Timeout });
        await Assertions.Expect(result).ToHaveTextAsync("Could not test: timeoutMilliseconds must be between 500 and 60000. (invalid_settings)");
        await page.ScreenshotAsync(new() { Path = Screenshots.PathOf("console-llm-provider-invalid.png"), FullPage = true });

        // Fixed: saved, and the error state is gone.
        await page.GetByTestId("llm-timeout").FillAsync("5000");
        await page.GetByTestId("llm-save").ClickAsync();
        await Assertions.Expect(status).ToHaveTextAsync("Saved. Every server uses it now.", new() { Timeout = Timeout });
        await Assertions.Expect(status).ToHaveAttributeAsync("data-ok", "true");
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Playwright;

// The console's big-conversation check: seeds one conversation with N messages through the agent hub, then
// opens it in real Chromium and scrolls to the very first message, measuring how long that takes, the longest
// frame while scrolling and how many message nodes the DOM holds (the list is virtualized).
//   Parley.ConsoleBench --url http://127.0.0.1:PORT --email E --password P [--messages 10000] [--chromium /usr/bin/chromium] [--out result.json]
var options = Args.Parse(args);
var baseUri = new Uri(options["url"]);
var count = int.Parse(options.GetValueOrDefault("messages", "10000"), CultureInfo.InvariantCulture);
var chromium = options.GetValueOrDefault("chromium", "/usr/bin/chromium");

var cookies = new CookieContainer();
using var http = new HttpClient(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = baseUri };
http.DefaultRequestHeaders.Add("X-Parley-Csrf", "1");
(await http.PostAsJsonAsync("/api/v1/auth/login", new { email = options["email"], password = options["password"] })).EnsureSuccessStatusCode();

// A visitor starts the conversation; the visitor's hub and the agent's REST calls fill it, a few hundred in flight.
// The agent stays offline while seeding (no agent hub), so routing assigns nothing and adds no event lines: the
// seeded messages are seq 1..N (the console's own connection may add an assignment line after N).
var session = await (await http.PostAsJsonAsync("/api/v1/widget/session", new { siteKey = options.GetValueOrDefault("site", "bench") })).Content.ReadFromJsonAsync<JsonElement>();
var visitorToken = session.GetProperty("visitorToken").GetString();
// Keep-alive as the browsers have it (RealtimeOptions; KeepAliveContractTests checks these numbers).
await using var visitor = new HubConnectionBuilder().WithServerTimeout(TimeSpan.FromSeconds(60)).WithKeepAliveInterval(TimeSpan.FromSeconds(30)).WithUrl(new Uri(baseUri, "/hubs/visitor"), o => o.AccessTokenProvider = () => Task.FromResult(visitorToken)).Build();
await visitor.StartAsync();
var conversation = await visitor.InvokeAsync<JsonElement>("StartConversation");
var conversationId = conversation.GetProperty("id").GetString()!;

var seed = Stopwatch.StartNew();
var words = "order parcel refund 发货 物流 invoice 请问 delivery address 谢谢 tracking number customs".Split(' ');
var sent = 0;
while (sent < count)
{
    var batch = Enumerable.Range(sent, Math.Min(250, count - sent)).Select(i =>
    {
        // Bodies of varied length (1 to ~6 lines) so row heights differ as in a real chat.
        var body = string.Join(' ', Enumerable.Range(0, 3 + (i * 7 % 60)).Select(j => words[(i + j) % words.Length]));
        return i % 2 == 0
            ? visitor.InvokeAsync<JsonElement>("Send", new { conversationId, clientId = Guid.NewGuid().ToString(), body = $"#{i + 1} {body}" })
            : AgentSendAsync(new { clientId = Guid.NewGuid().ToString(), body = $"#{i + 1} {body}" });
    });
    await Task.WhenAll(batch);
    sent += Math.Min(250, count - sent);
}

seed.Stop();

async Task<JsonElement> AgentSendAsync(object message)
{
    using var response = await http.PostAsJsonAsync($"/api/v1/conversations/{conversationId}/messages", message);
    response.EnsureSuccessStatusCode();
    return await response.Content.ReadFromJsonAsync<JsonElement>();
}
Console.WriteLine($"seeded {count} messages in {seed.Elapsed.TotalSeconds:F1} s");

using var playwright = await Playwright.CreateAsync();
await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
{
    ExecutablePath = chromium,
    Headless = true,
    Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
});
var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1440, Height = 900 }, Locale = "en-US" });
var page = await context.NewPageAsync();
await page.GotoAsync(new Uri(baseUri, "/console/").ToString());
await page.GetByTestId("login-email").FillAsync(options["email"]);
await page.GetByTestId("login-password").FillAsync(options["password"]);
await page.GetByTestId("login-submit").ClickAsync();
await page.GetByTestId("connection-state").And(page.Locator("[data-state=connected]")).WaitForAsync(new() { Timeout = 30_000 });

// Open: from navigation to the newest message on screen (no event lines here: seq runs 1..N).
var open = Stopwatch.StartNew();
await page.EvaluateAsync($"location.hash = '#/c/{conversationId}'");
try
{
    await page.Locator($"[data-testid=message][data-seq=\"{count}\"]").WaitForAsync(new() { Timeout = 60_000 });
}
catch (TimeoutException)
{
    // Say what the page showed instead, so a failed run can be diagnosed from its log.
    await page.ScreenshotAsync(new() { Path = Path.Combine(Path.GetTempPath(), "parley-console-bench-failure.png") });
    Console.Error.WriteLine(await page.EvaluateAsync<string>("() => location.hash + ' | seqs: ' + [...document.querySelectorAll('[data-testid=message]')].map(e => e.dataset.seq).slice(-5).join(',') + ' | ' + document.body.innerText.slice(0, 500)"));
    throw;
}
open.Stop();

// Scroll to the top: the agent keeps dragging to the top; the list loads older pages as it nears it.
await page.EvaluateAsync("""
    () => {
      window.__frames = [];
      let last = performance.now();
      const tick = (t) => { window.__frames.push(t - last); last = t; if (!window.__stop) requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
    }
    """);
var scroll = Stopwatch.StartNew();
var maxNodes = 0;
while (true)
{
    var state = await page.EvaluateAsync<JsonElement>("""
        () => {
          const el = document.querySelector('[data-testid=message-list]');
          el.scrollTop = 0;
          el.dispatchEvent(new Event('scroll'));
          return { first: Number(el.dataset.firstSeq || 0), nodes: el.querySelectorAll('[data-testid=message]').length,
                   done: !!document.querySelector('[data-testid=history-start]') };
        }
        """);
    maxNodes = Math.Max(maxNodes, state.GetProperty("nodes").GetInt32());
    if (state.GetProperty("done").GetBoolean() && state.GetProperty("first").GetInt32() == 1)
    {
        break;
    }

    if (scroll.Elapsed > TimeSpan.FromMinutes(5))
    {
        throw new TimeoutException("Did not reach the first message within 5 minutes.");
    }

    await page.WaitForTimeoutAsync(16); // one frame between drags, as a person dragging the scrollbar would
}

await page.Locator("[data-testid=message][data-seq=\"1\"]").WaitForAsync(new() { Timeout = 10_000 });
scroll.Stop();
var frames = await page.EvaluateAsync<double[]>("() => { window.__stop = true; return window.__frames.slice(1); }");
Array.Sort(frames);
var p95 = frames.Length == 0 ? 0 : frames[(int)Math.Min(frames.Length - 1, Math.Ceiling(frames.Length * 0.95) - 1)];
var result = new
{
    messages = count,
    seedSeconds = Math.Round(seed.Elapsed.TotalSeconds, 1),
    openMs = Math.Round(open.Elapsed.TotalMilliseconds),
    scrollToTopMs = Math.Round(scroll.Elapsed.TotalMilliseconds),
    frames = frames.Length,
    frameP95Ms = Math.Round(p95, 1),
    frameMaxMs = Math.Round(frames.Length == 0 ? 0 : frames[^1], 1),
    maxMessageNodes = maxNodes,
};
var json = JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true });
Console.WriteLine(json);
if (options.TryGetValue("out", out var outFile))
{
    await File.WriteAllTextAsync(outFile, json);
}


internal static class Args
{
    public static Dictionary<string, string> Parse(string[] args)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            map[args[i].TrimStart('-')] = args[i + 1];
        }

        foreach (var required in new[] { "url", "email", "password" })
        {
            if (!map.ContainsKey(required))
            {
                throw new ArgumentException($"--{required} is required");
            }
        }

        return map;
    }
}

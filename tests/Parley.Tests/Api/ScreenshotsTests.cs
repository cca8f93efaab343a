using System.Text.RegularExpressions;
using Parley.Tests.Infrastructure;

namespace Parley.Tests.Api;

/// <summary>Running the tests must leave `git status` clean: screenshots go to TestResults, not to docs/img.</summary>
public sealed class ScreenshotsTests
{
    [Fact]
    public void Screenshots_GoToTestResults_UnlessTheRefreshScriptAsks()
    {
        Assert.SkipWhen(Environment.GetEnvironmentVariable(Screenshots.DirectoryVariable) is { Length: > 0 }, "the README refresh script is running");
        var path = Screenshots.PathOf("probe.png");
        Assert.StartsWith(Path.Combine(ParleyServer.RepositoryRoot, "TestResults") + Path.DirectorySeparatorChar, path, StringComparison.Ordinal);
    }

    [Fact]
    public void NoTestWritesIntoDocsImg()
    {
        // The old browser tests each built docs/img paths themselves and rewrote the tracked README images on every run.
        var root = Path.Combine(ParleyServer.RepositoryRoot, "tests", "Parley.Tests");
        var offenders = Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Where(f => Regex.IsMatch(File.ReadAllText(f), @"""docs""\s*,\s*""img""|docs/img/[a-z-]+\.png"))
            .Select(f => Path.GetRelativePath(root, f))
            .ToList();
        Assert.Empty(offenders);
    }
}

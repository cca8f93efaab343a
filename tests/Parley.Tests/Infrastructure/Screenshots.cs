namespace Parley.Tests.Infrastructure;

/// <summary>
/// Where browser tests write their screenshots: TestResults/screenshots (ignored by git), so running the tests never
/// rewrites tracked files. The README images in docs/img are refreshed on purpose by scripts/refresh-readme-images.sh,
/// which points <c>PARLEY_SCREENSHOT_DIR</c> at docs/img.
/// </summary>
public static class Screenshots
{
    public const string DirectoryVariable = "PARLEY_SCREENSHOT_DIR";

    public static string Directory =>
        Environment.GetEnvironmentVariable(DirectoryVariable) is { Length: > 0 } dir
            ? Path.GetFullPath(dir, ParleyServer.RepositoryRoot)
            : Path.Combine(ParleyServer.RepositoryRoot, "TestResults", "screenshots");

    public static string PathOf(string name)
    {
        var dir = Directory;
        System.IO.Directory.CreateDirectory(dir);
        return Path.Combine(dir, name);
    }
}

using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using Parley.Server.Data;

namespace Parley.Server.Features.Attachments;

public sealed class AttachmentOptions
{
    public const string Section = "Parley:Attachments";

    /// <summary>Largest file a visitor or agent may upload, in bytes (default 10 MiB).</summary>
    [Range(1024, 1L << 31)]
    public long MaxBytes { get; set; } = 10 * 1024 * 1024;

    /// <summary>Folder for the files; relative paths are under the data directory. Default: {DataDirectory}/attachments.</summary>
    public string? Directory { get; set; }

    /// <summary>Where the bytes live: <c>local</c> (the default, <see cref="Directory"/>) or <c>s3</c> (<see cref="S3"/>).</summary>
    public AttachmentStoreKind Store { get; set; } = AttachmentStoreKind.Local;

    /// <summary>The bucket when <see cref="Store"/> is <c>s3</c>.</summary>
    public S3AttachmentOptions S3 { get; set; } = new();
}

public enum AttachmentStoreKind
{
    Local,
    S3,
}

/// <summary>
/// Keys are <c>{yyyy-MM}/{32 random hex}.bin</c>, chosen by the server: opaque, not guessable, and the only
/// shape a store accepts back (defence in depth against a key that names something else).
/// </summary>
public static class AttachmentKeys
{
    public static string New(TimeProvider time) => $"{time.GetUtcNow():yyyy-MM}/{Guid.NewGuid():N}.bin";

    public static bool IsValid(string key)
    {
        var parts = key.Split('/');
        return parts.Length == 2 && parts[0].Length == 7 && parts[1].EndsWith(".bin", StringComparison.Ordinal)
            && !parts.Any(p => p.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '.'))) && !parts[1].Contains("..", StringComparison.Ordinal);
    }
}

/// <summary>
/// Where attachment bytes live. Keys are chosen by the server (never from a client-supplied name), so nothing a
/// visitor sends can point outside the store. Local disk is the default; an S3-compatible bucket is the other.
/// </summary>
public interface IAttachmentStore
{
    /// <summary>Copies the content in and returns its key.</summary>
    Task<string> SaveAsync(Stream content, CancellationToken cancellationToken);

    /// <summary>The stored bytes, or null when the key is unknown.</summary>
    Task<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken);

    /// <summary>Removes the bytes; a key that is already gone is not an error.</summary>
    Task DeleteAsync(string key, CancellationToken cancellationToken);
}

/// <summary>Files under the data directory, in one folder per month: <c>attachments/2026-11/{random}.bin</c>.</summary>
public sealed class LocalDiskAttachmentStore(IOptions<AttachmentOptions> options, IOptions<DatabaseOptions> database, TimeProvider time) : IAttachmentStore
{
    private readonly string _root = Path.GetFullPath(options.Value.Directory is { Length: > 0 } dir
        ? Path.Combine(database.Value.ResolveDataDirectory(), dir)
        : Path.Combine(database.Value.ResolveDataDirectory(), "attachments"));

    public async Task<string> SaveAsync(Stream content, CancellationToken cancellationToken)
    {
        var key = AttachmentKeys.New(time);
        var path = ResolvePath(key)!;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        try
        {
            await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, useAsync: true);
            await content.CopyToAsync(file, cancellationToken);
        }
        catch
        {
            File.Delete(path); // too large, client gone: leave no partial file behind
            throw;
        }

        return key;
    }

    public Task<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken) =>
        Task.FromResult<Stream?>(PathOf(key) is { } path && File.Exists(path) ? new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true) : null);

    public Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        if (PathOf(key) is { } path)
        {
            File.Delete(path);
        }

        return Task.CompletedTask;
    }

    /// <summary>Where a key's file is on disk (tests check that removed files are really gone; the S3 store has no such thing).</summary>
    public string? PathOf(string key) => ResolvePath(key);

    /// <summary>Only keys of the shape this store issues resolve to a path (defence in depth against traversal).</summary>
    private string? ResolvePath(string key)
    {
        if (!AttachmentKeys.IsValid(key))
        {
            return null;
        }

        var path = Path.GetFullPath(Path.Combine(_root, key));
        return path.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal) ? path : null;
    }
}

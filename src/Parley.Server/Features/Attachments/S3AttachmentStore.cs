using System.Buffers;
using System.Net;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Parley.Server.Features.Attachments;

/// <summary>An S3-compatible bucket (AWS S3, MinIO, Aliyun OSS, Tencent COS, Ceph RGW …) under <c>Parley:Attachments:S3</c>.</summary>
public sealed class S3AttachmentOptions
{
    /// <summary>The endpoint, e.g. <c>http://minio:9000</c> or <c>https://oss-cn-hangzhou.aliyuncs.com</c>; empty = AWS in <see cref="Region"/>.</summary>
    public string? ServiceUrl { get; set; }

    public string? Bucket { get; set; }

    /// <summary>The signing region (AWS: where the bucket is); <c>us-east-1</c> when empty, which MinIO accepts.</summary>
    public string? Region { get; set; }

    /// <summary>With <see cref="SecretKey"/>; both empty = the SDK's default credentials (environment, instance role).</summary>
    public string? AccessKey { get; set; }

    public string? SecretKey { get; set; }

    /// <summary><c>http://host/bucket/key</c> instead of <c>http://bucket.host/key</c>; MinIO and most self-hosted servers need it.</summary>
    public bool ForcePathStyle { get; set; }

    /// <summary>Prepended to every object key (e.g. <c>parley/</c>), so one bucket can hold several things.</summary>
    public string? Prefix { get; set; }

    /// <summary>An unreachable bucket makes /health/ready Unhealthy (503) instead of Degraded (200).</summary>
    public bool ReadinessRequiresBucket { get; set; }
}

/// <summary>With <c>Store: s3</c> the bucket and a usable endpoint are required; the server refuses to start otherwise.</summary>
public sealed class AttachmentOptionsValidator : IValidateOptions<AttachmentOptions>
{
    public ValidateOptionsResult Validate(string? name, AttachmentOptions options)
    {
        if (options.Store != AttachmentStoreKind.S3)
        {
            return ValidateOptionsResult.Success;
        }

        var s3 = options.S3;
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(s3.Bucket))
        {
            errors.Add("Parley:Attachments:S3:Bucket is required when Parley:Attachments:Store is s3.");
        }

        if (string.IsNullOrWhiteSpace(s3.ServiceUrl) && string.IsNullOrWhiteSpace(s3.Region))
        {
            errors.Add("Parley:Attachments:S3:ServiceUrl (or, for AWS, Region) is required when Parley:Attachments:Store is s3.");
        }
        else if (!string.IsNullOrWhiteSpace(s3.ServiceUrl)
            && !(Uri.TryCreate(s3.ServiceUrl, UriKind.Absolute, out var url) && (url.Scheme == Uri.UriSchemeHttp || url.Scheme == Uri.UriSchemeHttps)))
        {
            errors.Add($"Parley:Attachments:S3:ServiceUrl must be an absolute http(s) URL, not '{s3.ServiceUrl}'.");
        }

        if (string.IsNullOrEmpty(s3.AccessKey) != string.IsNullOrEmpty(s3.SecretKey))
        {
            errors.Add("Parley:Attachments:S3:AccessKey and SecretKey go together (or leave both empty for the SDK's default credentials).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>
/// Attachments as objects <c>{Prefix}{yyyy-MM}/{random}.bin</c> in a bucket. Uploads stream: a file that fits in
/// one part (5 MiB, the smallest S3 allows) is one PUT; a larger one is a multipart upload, one part in memory at
/// a time, aborted if the upload fails (too large, client gone), so nothing partial stays behind.
/// </summary>
public sealed class S3AttachmentStore : IAttachmentStore, IDisposable
{
    /// <summary>S3's smallest part (all but the last); also the most a single upload holds in memory.</summary>
    public const int PartSize = 5 * 1024 * 1024;

    private readonly TimeProvider _time;
    private readonly string _bucket;
    private readonly string _prefix;

    public S3AttachmentStore(IOptions<AttachmentOptions> options, TimeProvider time)
    {
        var s3 = options.Value.S3;
        _time = time;
        _bucket = s3.Bucket!;
        _prefix = s3.Prefix ?? "";
        var config = new AmazonS3Config
        {
            ForcePathStyle = s3.ForcePathStyle,

            // Only the checksums a request needs: servers other than AWS (OSS, older MinIO, s3rver) do not all
            // accept the CRC trailers SDK v4 sends by default.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        };
        if (!string.IsNullOrWhiteSpace(s3.ServiceUrl))
        {
            config.ServiceURL = s3.ServiceUrl;
            config.AuthenticationRegion = string.IsNullOrWhiteSpace(s3.Region) ? "us-east-1" : s3.Region;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(s3.Region);
        }

        Client = string.IsNullOrEmpty(s3.AccessKey)
            ? new AmazonS3Client(config)
            : new AmazonS3Client(new BasicAWSCredentials(s3.AccessKey, s3.SecretKey), config);
    }

    public IAmazonS3 Client { get; }

    public string Bucket => _bucket;

    /// <summary>The object key of an attachment key (tests list the bucket to check that removed objects are gone).</summary>
    public string ObjectKeyOf(string key) => _prefix + key;

    public async Task<string> SaveAsync(Stream content, CancellationToken cancellationToken)
    {
        var key = AttachmentKeys.New(_time);
        var objectKey = ObjectKeyOf(key);
        var buffer = ArrayPool<byte>.Shared.Rent(PartSize);
        try
        {
            var read = await content.ReadAtLeastAsync(buffer.AsMemory(0, PartSize), PartSize, throwOnEndOfStream: false, cancellationToken);
            if (read < PartSize)
            {
                await Client.PutObjectAsync(new PutObjectRequest { BucketName = _bucket, Key = objectKey, InputStream = new MemoryStream(buffer, 0, read, writable: false), UseChunkEncoding = false }, cancellationToken);
                return key;
            }

            await UploadInPartsAsync(objectKey, content, buffer, cancellationToken);
            return key;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task UploadInPartsAsync(string objectKey, Stream content, byte[] buffer, CancellationToken cancellationToken)
    {
        var upload = await Client.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = _bucket, Key = objectKey }, cancellationToken);
        try
        {
            var parts = new List<PartETag>();
            var read = PartSize;
            while (read > 0)
            {
                var part = await Client.UploadPartAsync(
                    new UploadPartRequest
                    {
                        BucketName = _bucket,
                        Key = objectKey,
                        UploadId = upload.UploadId,
                        PartNumber = parts.Count + 1,
                        InputStream = new MemoryStream(buffer, 0, read, writable: false),
                        PartSize = read,
                        UseChunkEncoding = false,
                    },
                    cancellationToken);
                parts.Add(new PartETag(parts.Count + 1, part.ETag));
                read = await content.ReadAtLeastAsync(buffer.AsMemory(0, PartSize), PartSize, throwOnEndOfStream: false, cancellationToken);
            }

            await Client.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest { BucketName = _bucket, Key = objectKey, UploadId = upload.UploadId, PartETags = parts }, cancellationToken);
        }
        catch
        {
            await Client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = _bucket, Key = objectKey, UploadId = upload.UploadId }, CancellationToken.None);
            throw;
        }
    }

    /// <summary>The object's body, streamed (not seekable); disposing it releases the connection.</summary>
    public async Task<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken)
    {
        if (!AttachmentKeys.IsValid(key))
        {
            return null;
        }

        try
        {
            var response = await Client.GetObjectAsync(new GetObjectRequest { BucketName = _bucket, Key = ObjectKeyOf(key) }, cancellationToken);
            return response.ResponseStream;
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound && ex.ErrorCode != "NoSuchBucket")
        {
            return null;
        }
    }

    /// <summary>S3 answers a DELETE of a missing object with 204, so deleting twice is fine.</summary>
    public async Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        if (AttachmentKeys.IsValid(key))
        {
            await Client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = _bucket, Key = ObjectKeyOf(key) }, cancellationToken);
        }
    }

    public void Dispose() => Client.Dispose();
}

/// <summary>
/// The bucket answers a one-key listing (needs s3:ListBucket). Degraded by default: chat goes on without
/// attachments; Unhealthy with Parley:Attachments:S3:ReadinessRequiresBucket.
/// </summary>
public sealed class S3AttachmentStoreHealthCheck(S3AttachmentStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            await store.Client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = store.Bucket, MaxKeys = 1 }, timeout.Token);
            return HealthCheckResult.Healthy($"bucket {store.Bucket} reachable");
        }
        catch (Exception ex) when (ex is AmazonServiceException or AmazonClientException or HttpRequestException or OperationCanceledException or IOException)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, $"The attachment bucket {store.Bucket} is unreachable: uploads and downloads fail; chat goes on.", ex);
        }
    }
}

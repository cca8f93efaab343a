using System.Text;
using Parley.Server.Features.Attachments;
using Parley.Server.Features.Widget;

namespace Parley.Tests.Widget;

/// <summary>Pure logic behind uploads and identity: type sniffing, display names, the HMAC check.</summary>
public sealed class FileTypesTests
{
    [Theory]
    [InlineData("89504E470D0A1A0A0000", "image/png")]
    [InlineData("FFD8FFE000104A464946", "image/jpeg")]
    [InlineData("474946383961", "image/gif")]
    [InlineData("52494646000000005745425056503820", "image/webp")]
    [InlineData("255044462D312E370A", "application/pdf")]
    [InlineData("504B0304140000000800", "application/zip")]
    public void Detect_KnowsTheAllowedTypesByTheirFirstBytes(string hex, string contentType) =>
        Assert.Equal(contentType, FileTypes.Detect(Convert.FromHexString(hex))?.ContentType);

    [Theory]
    [InlineData("4D5A90000300000004000000FFFF0000")] // Windows PE ("MZ")
    [InlineData("7F454C4602010100")] // ELF
    [InlineData("CAFEBABE00000034")] // Java class / Mach-O fat binary
    [InlineData("52494646000000005741564520")] // RIFF but WAVE, not WebP
    public void Detect_RefusesExecutablesAndLookAlikes(string hex) => Assert.Null(FileTypes.Detect(Convert.FromHexString(hex)));

    [Theory]
    [InlineData("#!/bin/sh\nrm -rf /\n")]
    [InlineData("  <svg onload=alert(1)>")]
    [InlineData("<html><script>alert(1)</script>")]
    public void Detect_ScriptsAndMarkupAreNotPlainText(string text) => Assert.Null(FileTypes.Detect(Encoding.UTF8.GetBytes(text)));

    [Fact]
    public void Detect_PlainText_IncludingChinese_AndACharacterCutAtTheSniffWindow()
    {
        Assert.Equal("text/plain", FileTypes.Detect(Encoding.UTF8.GetBytes("订单 1042 已发货\r\nshipped today\t✓"))?.ContentType);
        var long4k = Encoding.UTF8.GetBytes(new string('a', FileTypes.SniffLength - 1) + "发");
        Assert.Equal("text/plain", FileTypes.Detect(long4k.AsSpan(0, FileTypes.SniffLength))?.ContentType);
        Assert.Null(FileTypes.Detect([0x68, 0x69, 0xC3])); // a short file ending in a broken sequence is not text
        Assert.Null(FileTypes.Detect([0x68, 0x00, 0x69])); // NUL: binary
    }

    [Theory]
    [InlineData("../../etc/passwd.png", "passwd.png")]
    [InlineData("invoice.pdf.exe", "invoice.pdf.png")]
    [InlineData("\"quoted\"<name>.PNG", "_quoted__name_.png")]
    [InlineData("...", "file.png")]
    [InlineData(null, "file.png")]
    public void SafeName_TakesTheExtensionOfTheDetectedType(string? requested, string expected) =>
        Assert.Equal(expected, FileTypes.SafeName(requested, FileTypes.Png));

    [Fact]
    public void IdentityHash_IsLowerHexHmacSha256_ComparedInConstantTime()
    {
        // Reference value: python3 -c "import hmac,hashlib;print(hmac.new(b'secret',b'cust-42',hashlib.sha256).hexdigest())"
        var hash = VisitorProfiles.Sign("secret", "cust-42");
        Assert.Equal("50a82d96002909c08f14a4eec69192869e2602bb236907ee36f80d9a2497c20c", hash);
        Assert.True(VisitorProfiles.Verify("secret", "cust-42", hash));
        Assert.True(VisitorProfiles.Verify("secret", "cust-42", hash.ToUpperInvariant()));
        Assert.False(VisitorProfiles.Verify("secret", "cust-43", hash));
        Assert.False(VisitorProfiles.Verify("other", "cust-42", hash));
        Assert.False(VisitorProfiles.Verify("secret", "cust-42", hash[..62]));
        Assert.False(VisitorProfiles.Verify("secret", "cust-42", new string('z', 64)));
        Assert.False(VisitorProfiles.Verify("secret", "cust-42", null));
    }
}

using Parley.Server.Infrastructure;
using Parley.Server.Routing;

namespace Parley.Tests.Routing;

public sealed class BusinessHoursTests
{
    private static readonly string[] WorkDays = ["monday", "tuesday", "wednesday", "thursday", "friday"];

    private static BusinessHours Weekdays(string tz) => BusinessHours.Create(tz, new HoursDto
    {
        Weekly = [.. WorkDays.Select(d => new OpeningSpan(d, "09:00", "17:00"))],
    });

    private static DateTimeOffset Utc(string iso) => DateTimeOffset.Parse(iso, System.Globalization.CultureInfo.InvariantCulture);

    [Theory]
    [InlineData("2026-11-25T07:59:59Z", false)] // Wednesday 08:59:59 in Berlin (UTC+1)
    [InlineData("2026-11-25T08:00:00Z", true)]  // 09:00 local: opening is inclusive
    [InlineData("2026-11-25T15:59:59Z", true)]
    [InlineData("2026-11-25T16:00:00Z", false)] // 17:00 local: closing is exclusive
    [InlineData("2026-11-28T10:00:00Z", false)] // Saturday
    public void Weekday_Schedule_InTheTeamsTimeZone(string instant, bool open) =>
        Assert.Equal(open, Weekdays("Europe/Berlin").IsOpen(Utc(instant)));

    [Fact]
    public void SameLocalHours_AcrossTheSpringDstChange()
    {
        var hours = Weekdays("Europe/Berlin");
        // Friday 27 March 2026: UTC+1, so 09:00 local is 08:00Z. Monday 30 March (after the change): UTC+2, 07:00Z.
        Assert.True(hours.IsOpen(Utc("2026-03-27T08:00:00Z")));
        Assert.False(hours.IsOpen(Utc("2026-03-30T06:59:00Z")));
        Assert.True(hours.IsOpen(Utc("2026-03-30T07:00:00Z")));
        Assert.False(hours.IsOpen(Utc("2026-03-30T15:00:00Z"))); // 17:00 CEST
    }

    [Fact]
    public void AutumnDstChange_TheRepeatedHourIsHandledInLocalTime()
    {
        // New York falls back on Sunday 1 November 2026 at 02:00 EDT -> 01:00 EST. A Sunday 00:00–03:00 span
        // therefore lasts four real hours: 04:00Z to 08:00Z.
        var hours = BusinessHours.Create("America/New_York", new HoursDto { Weekly = [new OpeningSpan("sunday", "00:00", "03:00")] });
        Assert.True(hours.IsOpen(Utc("2026-11-01T04:00:00Z")));  // 00:00 EDT
        Assert.True(hours.IsOpen(Utc("2026-11-01T06:30:00Z")));  // 01:30 EST (second pass through 01:xx)
        Assert.True(hours.IsOpen(Utc("2026-11-01T07:59:00Z")));  // 02:59 EST
        Assert.False(hours.IsOpen(Utc("2026-11-01T08:00:00Z"))); // 03:00 EST
    }

    [Fact]
    public void OvernightSpan_RunsIntoTheNextDay()
    {
        var hours = BusinessHours.Create("Asia/Shanghai", new HoursDto { Weekly = [new OpeningSpan("friday", "22:00", "06:00")] });
        Assert.False(hours.IsOpen(Utc("2026-11-27T13:59:00Z"))); // Friday 21:59 in Shanghai (UTC+8)
        Assert.True(hours.IsOpen(Utc("2026-11-27T14:00:00Z")));  // Friday 22:00
        Assert.True(hours.IsOpen(Utc("2026-11-27T21:30:00Z")));  // Saturday 05:30: last night's span
        Assert.False(hours.IsOpen(Utc("2026-11-27T22:00:00Z"))); // Saturday 06:00
        Assert.False(hours.IsOpen(Utc("2026-11-28T15:00:00Z"))); // Saturday 23:00: no Saturday span
    }

    [Fact]
    public void Holiday_ClosesSpansStartingThatDay_ButNotLastNightsTail()
    {
        var hours = BusinessHours.Create("UTC", new HoursDto
        {
            Weekly = [new OpeningSpan("thursday", "20:00", "02:00"), new OpeningSpan("friday", "09:00", "17:00"), new OpeningSpan("friday", "20:00", "02:00")],
            Holidays = ["2026-12-25"], // a Friday
        });
        Assert.True(hours.IsOpen(Utc("2026-12-25T01:00:00Z")));  // Thursday's night shift runs into Christmas
        Assert.False(hours.IsOpen(Utc("2026-12-25T10:00:00Z"))); // Christmas day span closed
        Assert.False(hours.IsOpen(Utc("2026-12-25T21:00:00Z"))); // Christmas night span closed
        Assert.False(hours.IsOpen(Utc("2026-12-26T01:00:00Z"))); // ... and its tail
        Assert.True(hours.IsOpen(Utc("2026-12-18T10:00:00Z")));  // the Friday before is open
    }

    [Fact]
    public void Holiday_IsALocalDate()
    {
        // 2026-12-24T23:30Z is already 25 December in Shanghai.
        var hours = BusinessHours.Create("Asia/Shanghai", new HoursDto { Holidays = ["2026-12-25"] });
        Assert.False(hours.IsOpen(Utc("2026-12-24T23:30:00Z")));
        Assert.True(hours.IsOpen(Utc("2026-12-24T15:30:00Z")));
    }

    [Fact]
    public void NoSchedule_IsAlwaysOpen_AndOpenEqualsCloseIsAllDay()
    {
        Assert.True(BusinessHours.AlwaysOpen.IsOpen(Utc("2026-11-29T03:00:00Z")));
        var allSunday = BusinessHours.Create("UTC", new HoursDto { Weekly = [new OpeningSpan("sunday", "00:00", "00:00")] });
        Assert.True(allSunday.IsOpen(Utc("2026-11-29T00:00:00Z")));
        Assert.True(allSunday.IsOpen(Utc("2026-11-29T23:59:59Z")));
        Assert.False(allSunday.IsOpen(Utc("2026-11-30T00:00:00Z")));
    }

    [Theory]
    [InlineData("Mars/Olympus", "monday", "09:00", "invalid_time_zone")]
    [InlineData("UTC", "funday", "09:00", "invalid_hours")]
    [InlineData("UTC", "7", "09:00", "invalid_hours")]
    [InlineData("UTC", "monday", "9am", "invalid_hours")]
    public void BadInput_IsRejectedWithACode(string tz, string day, string open, string code)
    {
        var error = Assert.Throws<ParleyException>(() => BusinessHours.Create(tz, new HoursDto { Weekly = [new OpeningSpan(day, open, "17:00")] }));
        Assert.Equal(code, error.Code);
    }
}

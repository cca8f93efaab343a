using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Parley.Server.Infrastructure;

namespace Parley.Server.Routing;

/// <summary>One opening span of the weekly schedule, in the team's local time ("HH:mm").</summary>
public sealed record OpeningSpan(string Day, string Open, string Close);

/// <summary>A team's business hours as the admin API and the Teams.HoursJson column carry them.</summary>
public sealed record HoursDto
{
    /// <summary>Opening spans. Empty: open every day around the clock (holidays still close).</summary>
    public IReadOnlyList<OpeningSpan> Weekly { get; init; } = [];

    /// <summary>Local dates ("yyyy-MM-dd") on which the team is closed.</summary>
    public IReadOnlyList<string> Holidays { get; init; } = [];
}

/// <summary>
/// Business hours: a weekly schedule in a team's IANA time zone plus holidays. Pure, so the edge cases (DST
/// changes, overnight spans, holidays) are unit-tested without a clock.
/// <list type="bullet">
/// <item>Spans are wall-clock local times: 09:00–17:00 stays 09:00–17:00 local across DST changes.</item>
/// <item>A span whose close is not after its open runs overnight into the next day (22:00–06:00);
/// open == close is the whole day. An overnight span belongs to the day it starts on.</item>
/// <item>A holiday closes the spans that start on that local date (so Christmas Eve's night shift still runs
/// into Christmas morning).</item>
/// </list>
/// </summary>
public sealed class BusinessHours
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    private readonly Span[] _spans;
    private readonly HashSet<DateOnly> _holidays;

    private BusinessHours(TimeZoneInfo timeZone, Span[] spans, HashSet<DateOnly> holidays, HoursDto dto)
    {
        TimeZone = timeZone;
        _spans = spans;
        _holidays = holidays;
        Dto = dto;
    }

    public TimeZoneInfo TimeZone { get; }

    public HoursDto Dto { get; }

    public static BusinessHours AlwaysOpen { get; } = new(TimeZoneInfo.Utc, [], [], new HoursDto());

    /// <summary>Validates and builds; bad input throws a <see cref="ParleyException"/> naming the problem.</summary>
    public static BusinessHours Create(string? timeZoneId, HoursDto? hours)
    {
        var tz = ParseTimeZone(timeZoneId);
        hours ??= new HoursDto();
        if (hours.Weekly.Count > 100 || hours.Holidays.Count > 1000)
        {
            throw Invalid("Too many spans or holidays.");
        }

        var spans = hours.Weekly.Select(s => new Span(ParseDay(s.Day), ParseTime(s.Open), ParseTime(s.Close))).ToArray();
        var holidays = hours.Holidays.Select(ParseDate).ToHashSet();
        return new BusinessHours(tz, spans, holidays, hours);
    }

    /// <summary>From the stored columns; an unparsable stored value counts as always open rather than failing routing.</summary>
    public static BusinessHours FromStored(string? timeZoneId, string? hoursJson)
    {
        try
        {
            return Create(timeZoneId, string.IsNullOrEmpty(hoursJson) ? null : JsonSerializer.Deserialize<HoursDto>(hoursJson, Json));
        }
        catch (Exception ex) when (ex is ParleyException or JsonException)
        {
            return AlwaysOpen;
        }
    }

    public string? ToJson() => Dto.Weekly.Count == 0 && Dto.Holidays.Count == 0 ? null : JsonSerializer.Serialize(Dto, Json);

    public bool IsOpen(DateTimeOffset instant)
    {
        var local = TimeZoneInfo.ConvertTime(instant, TimeZone).DateTime;
        var date = DateOnly.FromDateTime(local);
        var time = TimeOnly.FromDateTime(local);
        var yesterday = date.AddDays(-1);
        if (_spans.Length == 0)
        {
            return !_holidays.Contains(date);
        }

        foreach (var span in _spans)
        {
            var overnight = span.Close <= span.Open;
            if (span.Day == date.DayOfWeek && !_holidays.Contains(date) && time >= span.Open && (overnight || time < span.Close))
            {
                return true;
            }

            // The tail of last night's overnight span.
            if (overnight && span.Day == yesterday.DayOfWeek && !_holidays.Contains(yesterday) && time < span.Close)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The open intervals (UTC, sorted, merged) that overlap [<paramref name="fromUtc"/>, <paramref name="toUtc"/>):
    /// what reports clip durations to when they count business hours only (docs/reports.md).
    /// </summary>
    public List<(DateTime Start, DateTime End)> OpenIntervals(DateTime fromUtc, DateTime toUtc)
    {
        var result = new List<(DateTime Start, DateTime End)>();
        var first = DateOnly.FromDateTime(TimeZoneInfo.ConvertTimeFromUtc(fromUtc, TimeZone)).AddDays(-1);
        var last = DateOnly.FromDateTime(TimeZoneInfo.ConvertTimeFromUtc(toUtc, TimeZone));
        for (var date = first; date <= last; date = date.AddDays(1))
        {
            if (_holidays.Contains(date))
            {
                continue;
            }

            if (_spans.Length == 0)
            {
                result.Add((LocalToUtc(date, TimeOnly.MinValue), LocalToUtc(date.AddDays(1), TimeOnly.MinValue)));
                continue;
            }

            foreach (var span in _spans.Where(s => s.Day == date.DayOfWeek))
            {
                var end = span.Close <= span.Open ? LocalToUtc(date.AddDays(1), span.Close) : LocalToUtc(date, span.Close);
                result.Add((LocalToUtc(date, span.Open), end));
            }
        }

        result.Sort();
        var merged = new List<(DateTime Start, DateTime End)>(result.Count);
        foreach (var (start, end) in result)
        {
            if (end <= fromUtc || start >= toUtc || end <= start)
            {
                continue;
            }

            if (merged.Count > 0 && start <= merged[^1].End)
            {
                merged[^1] = (merged[^1].Start, end > merged[^1].End ? end : merged[^1].End);
            }
            else
            {
                merged.Add((start, end));
            }
        }

        return merged;
    }

    private DateTime LocalToUtc(DateOnly date, TimeOnly time) => LocalToUtc(date.ToDateTime(time, DateTimeKind.Unspecified), TimeZone);

    /// <summary>
    /// The first UTC instant of a local wall-clock time: a time skipped by a DST change moves to the end of the gap; a
    /// time that occurs twice is its first occurrence.
    /// </summary>
    public static DateTime LocalToUtc(DateTime local, TimeZoneInfo zone)
    {
        while (zone.IsInvalidTime(local))
        {
            local = local.AddMinutes(15);
        }

        return zone.IsAmbiguousTime(local)
            ? DateTime.SpecifyKind(local - zone.GetAmbiguousTimeOffsets(local).Max(), DateTimeKind.Utc)
            : TimeZoneInfo.ConvertTimeToUtc(local, zone);
    }

    public static TimeZoneInfo ParseTimeZone(string? id)
    {
        if (string.IsNullOrWhiteSpace(id))
        {
            return TimeZoneInfo.Utc;
        }

        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(id.Trim());
        }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            throw new ParleyException(ErrorCatalogue.InvalidTimeZone, $"Unknown time zone '{id}'; use an IANA name such as Europe/Berlin.");
        }
    }

    private static DayOfWeek ParseDay(string? day) =>
        Enum.TryParse<DayOfWeek>(day, ignoreCase: true, out var d) && Enum.IsDefined(d) && !int.TryParse(day, out _)
            ? d
            : throw Invalid($"'{day}' is not a day of the week (monday … sunday).");

    private static TimeOnly ParseTime(string? value) =>
        TimeOnly.TryParseExact(value, "HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.None, out var t)
            ? t
            : value == "24:00" ? TimeOnly.MinValue : throw Invalid($"'{value}' is not a time of day (HH:mm).");

    private static DateOnly ParseDate(string? value) =>
        DateOnly.TryParseExact(value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d)
            ? d
            : throw Invalid($"'{value}' is not a date (yyyy-MM-dd).");

    private static ParleyException Invalid(string message) => new(ErrorCatalogue.InvalidHours, message);

    private readonly record struct Span(DayOfWeek Day, TimeOnly Open, TimeOnly Close);
}

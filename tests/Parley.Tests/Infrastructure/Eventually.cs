namespace Parley.Tests.Infrastructure;

/// <summary>Waits for state that changes asynchronously (a background index, a relayed event) by polling a
/// condition with a deadline: no fixed sleeps.</summary>
internal static class Eventually
{
    public static async Task<T> ValueAsync<T>(Func<Task<T>> read, Func<T, bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (true)
        {
            var value = await read();
            if (condition(value))
            {
                return value;
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Condition not met within {(timeout ?? TimeSpan.FromSeconds(15)).TotalSeconds} s; last value: {value}");
            }

            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }
}

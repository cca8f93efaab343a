using System.Reflection;
using Xunit.Sdk;
using Xunit.v3;

namespace Parley.Tests.Infrastructure;

/// <summary>
/// Runs a <c>[Theory]</c> taking a <see cref="Store"/> once on SQLite and once on PostgreSQL: storage behaviour is
/// proven on both stores, never on one. (PostgreSQL runs need PARLEY_TEST_POSTGRES; under CI=true they fail without it.)
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class BothStoresAttribute : DataAttribute
{
    public override ValueTask<IReadOnlyCollection<ITheoryDataRow>> GetData(MethodInfo testMethod, DisposalTracker disposalTracker) =>
        new([new TheoryDataRow<Store>(Store.Sqlite), new TheoryDataRow<Store>(Store.Postgres)]);

    public override bool SupportsDiscoveryEnumeration() => true;
}

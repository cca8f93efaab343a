using Parley.Server.Features.Ai;

namespace Parley.Tests.Ai;

/// <summary>The text module's bounded string pool: the same values as before, fewer strings, never more memory than its limit.</summary>
public sealed class TextPoolTests
{
    [Fact]
    public void AWordSeenBefore_IsTheSameString_AndAFeatureNameKeepsItsPrefix()
    {
        var pool = new TextPool(100);
        var first = pool.Get("order number 42".AsSpan(0, 5));
        var second = pool.Get("an order".AsSpan(3));
        Assert.Equal("order", first);
        Assert.Same(first, second);

        var features = new TextPool(100);
        var feature = features.Prefixed(TextAnalyzer.Word, "order");
        Assert.Equal("w:order", feature);
        Assert.Same(feature, features.Prefixed(TextAnalyzer.Word, "orders".AsSpan(0, 5)));

        var stems = new TextPool(100);
        var calls = 0;
        string Stem(string w)
        {
            calls++;
            return TextAnalyzer.Stem(w);
        }

        Assert.Equal("ship", stems.Get("shipping", Stem));
        Assert.Equal("ship", stems.Get("shipping", Stem));
        Assert.Equal(1, calls);
    }

    [Fact]
    public void AFullPool_StillAnswersEveryValue_ButKeepsNoMore()
    {
        var pool = new TextPool(3);
        var words = Enumerable.Range(0, 50).Select(i => $"word{(char)('a' + (i % 26))}{(char)('a' + (i / 26))}").ToList();
        foreach (var w in words)
        {
            Assert.Equal(w, pool.Get(w.AsSpan()));
            Assert.Equal("b:" + w, new TextPool(0).Prefixed("b:", w));
        }

        Assert.Equal(3, pool.Count);
        Assert.Same(pool.Get(words[0].AsSpan()), pool.Get(words[0].AsSpan())); // kept while there was room
        Assert.NotSame(pool.Get(words[9].AsSpan()), pool.Get(words[9].AsSpan())); // made each time once full

        // Long strings and anything with a digit (order numbers: nearly always new) are never kept.
        var longWord = new string('x', TextPool.MaxLength + 1);
        var roomy = new TextPool(10);
        Assert.Equal(longWord, roomy.Get(longWord.AsSpan()));
        Assert.Equal("n:20261207", roomy.Prefixed("n:", "20261207"));
        Assert.Equal("wifi6", roomy.Get("wifi6", w => w));
        Assert.Equal(0, roomy.Count);
    }

    [Fact]
    public void TheAnalysis_IsTheSame_TheFirstTimeAWordIsSeenAndAfter()
    {
        // Each text carries words no analysis has seen (made, then pooled, by the first analysis; taken from the pools
        // by the second) besides common ones.
        string Fresh() => string.Concat(Enumerable.Range(0, 9).Select(_ => (char)('a' + Random.Shared.Next(26))));
        var analyzer = new TextAnalyzer();
        foreach (var text in new[] { $"Where is my order #12345? It {Fresh()}ed on Monday", $"要付邮费吗？订单号 889 {Fresh()}s", $"I can't log in, the {Fresh()} app keeps crashing!!", $"plus会员 wifi6 退款 {Fresh()}ing 蹦跶" })
        {
            var first = analyzer.Analyze(text);
            var second = analyzer.Analyze(text);
            Assert.Equal(first.Features, second.Features);
            Assert.Equal(first.Words, second.Words);
            Assert.Equal(first.ContentTokens, second.ContentTokens);
            Assert.Equal(first.Concepts, second.Concepts);
        }
    }
}

// The tests are CPU-heavy (real-model forward passes, each with its own worker threads) and the CI machine
// has two cores: running test classes side by side only oversubscribes it.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

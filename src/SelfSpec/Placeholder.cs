namespace SelfSpec; internal static class Placeholder {}

// ESLint for the extension's TypeScript (host, webviews, tests), type-aware.
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "bundled/**", "node_modules/**", "extension/build.mjs"] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    files: ["extension/**/*.ts"],
    languageOptions: {
      parserOptions: { project: "./extension/tsconfig.json", tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "no-restricted-properties": [
        "error",
        { property: "innerHTML", message: "Insert user data as text (textContent), never as HTML." },
        { property: "outerHTML", message: "Insert user data as text (textContent), never as HTML." },
        { property: "insertAdjacentHTML", message: "Insert user data as text, never as HTML." },
      ],
      "no-restricted-syntax": [
        "error",
        { selector: "AssignmentExpression[left.property.name='innerHTML']", message: "Never set innerHTML: insert text." },
      ],
    },
  },
  {
    // node:test's test() returns a promise the runner itself awaits.
    files: ["extension/test/**/*.ts"],
    rules: { "@typescript-eslint/no-floating-promises": "off" },
  },
);

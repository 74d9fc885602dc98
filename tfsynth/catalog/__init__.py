"""`python -m tfsynth.catalog`: the catalog *command* (check a product catalog, preview what it renders).

The catalog *format* (YAML -> Product, Catalog) lives in tfsynth.generate.catalog; this package only reads it:

    python -m tfsynth.catalog check CATALOG.yaml [--label_map label_map.pbtxt] [--verbose]
    python -m tfsynth.catalog preview CATALOG.yaml --output sheet.png [--views 5] [--size 192] \
        [--products NAME,...] [--cues all]

Nothing here imports TensorFlow: preview renders in this process, and Mesa's llvmpipe and TensorFlow hang in one
process.
"""

"""dabench/ imports one way: no module reaches itself through its imports, lazy ones included
(grimp builds the graph from every import statement, those inside functions too)."""
import grimp


def test_no_import_circle_inside_dabench():
    graph = grimp.build_graph("dabench", cache_dir=None)
    circles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                circles.append(" -> ".join((module, *back)))
    assert not circles, "import circles (move what both modules need into a lower one):\n" + "\n".join(circles)

# Reserved for the operators' console (issue 14): failure stories, audit. Operations are
# added here by hand as the models change, so parallel work does not fork the graph.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("calls", "0004_media_hardening")]

    operations: list[migrations.operations.base.Operation] = []

class this implements Namespace {}
